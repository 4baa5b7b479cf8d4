import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../../util/body.js';
import { acs3Encode, signAcs3 } from '../../protocol/fc-signature.js';
import { AsyncInvocationQueue } from './async-queue.js';
import type { FcContext } from './context.js';
import { API_VERSION, createFront } from './front.js';
import { RuntimeSupervisor } from './supervisor.js';
import type { FcEmulator, FcEmulatorOptions, FcInvokeResult } from './types.js';

// The way FC does it: spawn `bootstrap`, wait for FC_SERVER_PORT, POST /initialize.
export async function startFcEmulator(opts: FcEmulatorOptions): Promise<FcEmulator> {
  const asyncConcurrency = opts.asyncConcurrency ?? 4;
  if (!opts.bootstrap) throw new TypeError('Expected `bootstrap` to be a path, got ' + JSON.stringify(opts.bootstrap));
  if (!Number.isInteger(asyncConcurrency) || asyncConcurrency < 1) {
    throw new TypeError(`Expected \`asyncConcurrency\` to be an integer from 1, got ${asyncConcurrency}`);
  }
  const log = opts.log ?? (() => undefined);
  const context: FcContext = {
    functionName: opts.functionName ?? 'ferry',
    region: opts.region ?? 'cn-hongkong',
    accountId: opts.accountId,
    credentials: opts.credentials,
  };
  // The runtime's env is settled once the front listens (it may name the front), before the first spawn.
  let env: Record<string, string> | undefined;
  const supervisor = new RuntimeSupervisor({
    bootstrap: opts.bootstrap,
    cwd: opts.cwd,
    env: () => env,
    context,
    startTimeoutMs: opts.startTimeoutMs ?? 15_000,
    stopGraceMs: opts.stopGraceMs ?? 3_000,
    preStopTimeoutMs: opts.preStopTimeoutMs ?? 10_000,
    log,
  });
  const queue = new AsyncInvocationQueue({ concurrency: asyncConcurrency, log });

  const server = createFront({ context, supervisor, queue, failureDestination: opts.failureDestination ?? false });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = !opts.host || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const invokeUrl = `${url}/${API_VERSION}/functions/${acs3Encode(context.functionName)}/invocations`;
  env = typeof opts.env === 'function' ? opts.env({ url, invokeUrl }) : opts.env;

  // FC starts the instance before the first invocation; a broken bootstrap fails here, loudly.
  try {
    await supervisor.ready();
  } catch (err) {
    await supervisor.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    invokeUrl,
    // Through the front, so a test or caller exercises exactly what an HTTP client would.
    async invoke(event, invokeOpts = {}): Promise<FcInvokeResult> {
      const body = typeof event === 'string' ? Buffer.from(event) : event;
      let requestHeaders: Record<string, string> = invokeOpts.async ? { 'x-fc-invocation-type': 'Async' } : {};
      // Signed like any caller of FC's OpenAPI, with the key the runtime gets too.
      if (context.credentials) {
        const target = new URL(invokeUrl);
        requestHeaders = signAcs3({ method: 'POST', url: target, action: 'InvokeFunction', version: API_VERSION, headers: requestHeaders, body, credentials: context.credentials });
      }
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = http.request(invokeUrl, {
          method: 'POST',
          headers: { ...requestHeaders, 'content-length': body.length },
        });
        req.once('response', resolve).once('error', reject).end(body);
      });
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
      }
      return { status: res.statusCode ?? 0, headers, body: await readBody(res) };
    },
    runtimePid: () => supervisor.pid(),
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        // Together: a job event in flight ends only once the runtime's pre-stop has stopped its job,
        // and the queue must not deliver it again meanwhile.
        await Promise.all([supervisor.close(), queue.close()]);
        await serverClosed;
      })();
      return closing;
    },
  };
}
