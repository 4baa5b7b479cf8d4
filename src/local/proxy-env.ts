// The embedded stack fetches from the user's own machine, so it goes out the way the user's shell does:
// their proxy variables reach the worker (git reads them through curl, the file kind through _proxy.ts).
// The emulator otherwise starts the worker with a clean environment, as FC does (FC needs no proxy).
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'] as const;
// The worker's own calls (the object store, the gateway's notify endpoint) stay on this machine.
const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

export function proxyEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const set = PROXY_VARIABLES.filter((name) => env[name]);
  if (set.length === 0) return {};
  const out: Record<string, string> = Object.fromEntries(set.map((name) => [name, env[name] as string]));
  const noProxy = [env.NO_PROXY ?? env.no_proxy ?? '', ...LOOPBACK].filter(Boolean).join(',');
  out.NO_PROXY = noProxy;
  out.no_proxy = noProxy;
  return out;
}
