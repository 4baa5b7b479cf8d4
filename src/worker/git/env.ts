// User input reaches git only as a validated URL and commit id; this closes the remaining doors: no
// prompts, no user or system config, no transport but http(s), no redirects (an allowed host must not
// bounce us to an internal address).
export const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'] as const;

export function gitEnv(options: { allowHttp: boolean; base?: NodeJS.ProcessEnv }): NodeJS.ProcessEnv {
  const base = options.base ?? process.env;
  const config: [string, string][] = [
    ['protocol.version', '2'],
    ['protocol.allow', 'never'],
    ['protocol.https.allow', 'always'],
    ['protocol.http.allow', options.allowHttp ? 'always' : 'never'],
    ['http.followRedirects', 'false'],
    ['credential.helper', ''],
    ['core.askPass', ''],
    ['gc.auto', '0'],
    ['maintenance.auto', 'false'],
  ];
  const env: NodeJS.ProcessEnv = {
    PATH: base.PATH,
    HOME: base.HOME,
    // Set by the operator (bootstrap), never by users: where a git shipped as a layer finds its libraries
    // and helper programs.
    ...(base.LD_LIBRARY_PATH && { LD_LIBRARY_PATH: base.LD_LIBRARY_PATH }),
    ...(base.GIT_EXEC_PATH && { GIT_EXEC_PATH: base.GIT_EXEC_PATH }),
    // Also the operator's (or, in the embedded stack, the user's own shell's): the way out to the upstream.
    // curl reads these itself; FC has direct internet and sets none.
    ...Object.fromEntries(PROXY_VARIABLES.filter((name) => base[name]).map((name) => [name, base[name]])),
    LANG: 'C',
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_COUNT: String(config.length),
  };
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

/** `env` with more `GIT_CONFIG_*` entries after the ones it has (a copy; `env` is shared). */
export function withConfig(env: NodeJS.ProcessEnv, entries: readonly (readonly [string, string])[]): NodeJS.ProcessEnv {
  const out = { ...env };
  let count = Number(env.GIT_CONFIG_COUNT ?? 0);
  for (const [key, value] of entries) {
    out[`GIT_CONFIG_KEY_${count}`] = key;
    out[`GIT_CONFIG_VALUE_${count}`] = value;
    count++;
  }
  out.GIT_CONFIG_COUNT = String(count);
  return out;
}
