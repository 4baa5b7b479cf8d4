/**
 * The two gateway clients behind one small interface, so the same scenarios run against each: the CLI's
 * GatewayClient in this process, and the web page's (web/gateway.js) in Chromium, loaded from the gateway
 * emulator exactly as the page loads it, protocol modules included.
 */
import type { Page } from 'playwright-core';
import { GatewayClient } from '../../src/client/gateway-client.js';
import type { AppCredentials } from '../../src/protocol/apigw-signature.js';

export interface ClientUnderTest {
  /** The id it registered under, or the error that ended its attempt to register. */
  start(): Promise<{ deviceId: string } | { error: { code: string; message: string } }>;
  request(method: string, path: string, body?: string): Promise<{ status: number; body: string }>;
  /** NF# bodies received. */
  pushes(): Promise<string[]>;
  /** How many times it registered again after the first time. */
  reconnects(): Promise<number>;
  close(): Promise<void>;
}

export type ClientFactory = (url: string, deviceId: string) => ClientUnderTest;

export function cliClient(credentials: AppCredentials): ClientFactory {
  return (url, deviceId) => {
    const client = new GatewayClient({ url, deviceId, credentials, backoff: { initialMs: 50, maxMs: 200, attempts: 20 } });
    const pushes: string[] = [];
    let reconnects = 0;
    client.on('message', (text) => pushes.push(text));
    client.on('reconnect', () => reconnects++);
    return {
      start: () =>
        client.connect().then(
          () => ({ deviceId: client.deviceId }),
          (error: { code: string; message: string }) => ({ error: { code: error.code, message: error.message } }),
        ),
      request: (method, path, body) => client.request({ method, path, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) }),
      pushes: async () => [...pushes],
      reconnects: async () => reconnects,
      close: async () => client.close(),
    };
  };
}

interface PageHarness {
  client: { state: string; deviceId: string; start(): void; stop(): void; request(method: string, path: string, options?: { body?: string }): Promise<{ status: number; body: string }> };
  pushes: string[];
  onlines: number;
}

/** `page` must show a document of the gateway's origin; each client gets a slot on `window`. */
export function pageClient(page: Page): ClientFactory {
  let next = 0;
  return (url, deviceId) => {
    const slot = `client${++next}`;
    /** Runs `fn` on this client's harness in the page. */
    const inPage = <T, A>(fn: (h: PageHarness, arg: A) => T | Promise<T>, arg: A): Promise<T> =>
      page.evaluate(
        ({ slot, source, arg }) => {
          const h = (window as unknown as Record<string, PageHarness>)[slot]!;
          // Playwright passes data, not closures: the function travels as its source.
          return (0, eval)(`(${source})`)(h, arg) as T;
        },
        { slot, source: fn.toString(), arg },
      ) as Promise<T>;
    return {
      async start() {
        // A string, not a function: vitest would rewrite a dynamic import() in this file's code.
        await page.evaluate(`(async () => {
          const { GatewayClient } = await import('/gateway.js');
          const h = { pushes: [], onlines: 0 };
          h.client = new GatewayClient({
            url: ${JSON.stringify(url)},
            deviceId: ${JSON.stringify(deviceId)},
            newDeviceId: () => 'webnew' + Date.now(),
            onPush: (text) => h.pushes.push(text),
            onState: (state) => { if (state === 'online') h.onlines++; },
          });
          window[${JSON.stringify(slot)}] = h;
          h.client.start();
        })()`);
        // The page never gives up: its answer to a refused id is a new one.
        await page.waitForFunction((slot) => (window as unknown as Record<string, PageHarness>)[slot]!.client.state === 'online', slot, { timeout: 10_000 });
        return { deviceId: await inPage((h) => h.client.deviceId, undefined) };
      },
      request: (method, path, body) =>
        inPage(
          (h, a) => h.client.request(a.method, a.path, a.body === undefined ? {} : { body: a.body }).then((r) => ({ status: r.status, body: r.body })),
          { method, path, body },
        ),
      pushes: () => inPage((h) => [...h.pushes], undefined),
      reconnects: async () => Math.max(0, (await inPage((h) => h.onlines, undefined)) - 1),
      close: () => inPage((h) => h?.client.stop(), undefined),
    };
  };
}
