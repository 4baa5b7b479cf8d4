import type { Command } from 'commander';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { isLoopbackHost, isWildcardHost } from '../../local/reachable-host.js';
import { parseHostList, parsePort, usageError, type UsageError, examples } from '../options.js';

// Worker tunables a developer may set when running the local stack; the rest is wired by the stack.
const PASS_THROUGH = ['FERRY_CONCURRENCY', 'FERRY_URL_TTL', 'FERRY_MAX_ARCHIVE_BYTES', 'FERRY_JOB_TIMEOUT', 'FERRY_GIT_TIMEOUT', 'FERRY_PART_SIZE', 'FERRY_PARTS_IN_FLIGHT'];

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the local stack (on loopback unless --host says otherwise): OSS-compatible store, FC emulator running the worker, API gateway and web page.')
    .option('-p, --port <port>', 'gateway port (websocket, HTTP API, web page); 0 picks a free one', '8787')
    .option('--host <host>', 'address the gateway and the object store listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--public-host <host>', 'host name or address that links and printed URLs use (default: --host, or for 0.0.0.0 and :: the first non-internal IPv4 address)')
    .option('-d, --data <dir>', 'where objects, mirrors and dev credentials are kept', '.ferry')
    .option('--allow-host <host...>', 'also allow repositories on these host[:port] entries')
    .option('--allow-http', 'allow plain http:// repository URLs (for a loopback git server)')
    .option('--allow-origin <origin...>', 'let the web page hosted at these origins (https://site.example) call the gateway from a browser')
    .option('--require-signature', 'client APIs need an app-key signature (the page then cannot submit)')
    .option('--rate-limit <perMinute>', 'requests per minute per client IP on the anonymous APIs (default: unlimited)')
    .option('--json', 'print one JSON line with the endpoints and credentials first, then logs')
    .option('--verbose', 'print the worker\'s log lines')
    .addHelpText('after', examples([
      'ferry serve                       # http://127.0.0.1:8787/: the web page, the API and the gateway',
      'ferry serve -p 0 --json           # any free port; endpoints and credentials as one JSON line',
      'ferry serve --host 0.0.0.0 --require-signature   # reachable from other machines',
    ]))
    .action(async (opts: { port: string; host: string; publicHost?: string; data: string; allowHost?: string[]; allowOrigin?: string[]; allowHttp?: boolean; requireSignature?: boolean; rateLimit?: string; json?: boolean; verbose?: boolean }) => {
      const port = parsePort(opts.port);
      const perMinute = opts.rateLimit === undefined ? undefined : Number(opts.rateLimit);
      if (perMinute !== undefined && (!Number.isInteger(perMinute) || perMinute < 1)) {
        throw usageError(`--rate-limit expects a whole number of requests per minute, got "${opts.rateLimit}"`);
      }
      if (!isLoopbackHost(opts.host) && !opts.requireSignature) {
        process.stderr.write('warning: serving beyond loopback without --require-signature lets anyone on the network submit jobs\n');
      }
      const publicHost = opts.publicHost === undefined ? undefined : parsePublicHost(opts.publicHost);
      if (publicHost && isLoopbackHost(opts.host) && !isLoopbackHost(publicHost)) {
        process.stderr.write(`warning: links name ${publicHost} but the stack listens on ${opts.host} only; add --host 0.0.0.0 for other machines to reach it\n`);
      }
      const allowHosts = parseHostList(opts.allowHost);
      const allowOrigins = (opts.allowOrigin ?? []).map(parseOrigin);
      const workerEnv: Record<string, string> = {};
      for (const name of PASS_THROUGH) if (process.env[name]) workerEnv[name] = process.env[name] as string;
      // Loaded here, not at start-up: every other command would pay for the whole local stack.
      const { startLocalStack } = await import('../../local/stack.js');
      const stack = await startLocalStack({
        dataDir: resolve(opts.data),
        port,
        host: opts.host,
        publicHost,
        allowHosts,
        allowOrigins,
        allowHttp: opts.allowHttp,
        requireSignature: opts.requireSignature,
        gateway: perMinute ? { anonymousRateLimit: { perMinute } } : undefined,
        workerEnv,
        log: opts.verbose ? (line) => process.stderr.write(`[worker] ${line}\n`) : undefined,
      }).catch((error: unknown) => {
        throw listenProblem(error, opts.host) ?? error;
      });
      const summary = { gateway: stack.gateway, api: stack.api, web: `${stack.api}/`, oss: stack.oss, bucket: stack.bucket, appKey: stack.appKey, appSecret: stack.appSecret };
      const linkHost = new URL(summary.api).hostname;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        process.stdout.write(
          [
            'ferry local stack is running',
            `  web page    ${summary.web}`,
            `  API         ${summary.api}   (POST /jobs, GET /jobs/:id)`,
            `  gateway     ${summary.gateway}`,
            `  OSS         ${summary.oss}   (bucket ${summary.bucket})`,
            ...(isWildcardHost(opts.host)
              ? [`  listening   on every interface; links name ${linkHost}${isLoopbackHost(linkHost) ? ' (no non-internal IPv4 address found: name one with --public-host)' : ' (choose another with --public-host)'}`]
              : []),
            `  app key     ${summary.appKey}`,
            `  app secret  ${summary.appSecret}`,
            '',
            `Try: curl -X POST ${summary.api}/jobs -H 'content-type: application/json' -d '{"url":"https://github.com/expressjs/express","format":"zip"}'`,
            'Press Ctrl+C to stop.',
            '',
          ].join('\n'),
        );
      }
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await stack.close();
      // Idle keep-alive sockets of fetch's global pool would hold the loop open for seconds more.
      process.exit(0);
    });
}

/** `--public-host`: a host name or an IP address (brackets around IPv6 allowed), nothing more. */
function parsePublicHost(value: string): string {
  const host = value.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) || /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(host)) return host;
  throw usageError(`--public-host expects a host name or an IP address (no scheme, port or path), got "${value}"`);
}

/** A listening failure the command line can fix, said as the option to change; undefined for any other error. */
function listenProblem(error: unknown, host: string): UsageError | undefined {
  const { code, port } = error as { code?: unknown; port?: unknown };
  if (code === 'EADDRINUSE') {
    return usageError(`port ${String(port)} on ${host} is already in use: choose another with --port <port>, or --port 0 for any free port`);
  }
  if (code === 'EACCES') {
    return usageError(`listening on port ${String(port)} needs privileges ferry does not have: choose a port above 1023 with --port`);
  }
  if (code === 'EADDRNOTAVAIL') {
    return usageError(`${host} is not an address of this machine: choose another with --host (0.0.0.0 listens on every interface)`);
  }
  return undefined;
}

/** An origin as browsers send it: scheme, host and port, nothing else. */
function parseOrigin(value: string): string {
  let origin: string | undefined;
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
  } catch {
    origin = undefined;
  }
  if (origin === undefined || origin !== value.replace(/\/$/, '')) {
    throw usageError(`--allow-origin expects an origin like https://site.example (scheme, host and port only), got "${value}"`);
  }
  return origin;
}
