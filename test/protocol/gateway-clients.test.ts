/**
 * One protocol, two clients: the same table of gateway scenarios runs against the CLI's GatewayClient
 * (over `ws`, frames signed) and the web page's (web/gateway.js in Chromium, frames unsigned), both built
 * on src/protocol/gateway-session.ts, against the real gateway emulator. A tap between client and gateway
 * records the frames, so each scenario can check the wire as well as what the client reports.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/local/gateway/index.js';
import { createNotifier } from '../../src/worker/notify/notifier.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT } from '../helpers/worker-process.js';
import { cliClient, pageClient, type ClientFactory, type ClientUnderTest } from './_gateway-drivers.js';
import { startTap, type Tap } from './_gateway-tap.js';

const app = { appKey: 'scenario-app', appSecret: 'scenario-secret' };
/** Every REGISTER and API call the backend saw, from every gateway below. */
const events: ApiGatewayEvent[] = [];

interface Env {
  /** The gateway behind each tap, by its role. */
  gateways: Record<'plain' | 'cr' | 'os', { gateway: Gateway; tap: Tap }>;
}

interface Scenario {
  name: string;
  gateway: keyof Env['gateways'];
  deviceId: string;
  run(client: ClientUnderTest, ctx: { kind: 'cli' | 'page'; deviceId: string; tap: Tap; gateway: Gateway }): Promise<void>;
}

const registers = (deviceId: string) => events.filter((e) => e.path === '/register' && e.headers['x-ca-deviceid'] === deviceId).length;

async function push(gateway: Gateway, deviceId: string, jobId: string): Promise<void> {
  const notifier = createNotifier({ url: `${gateway.url}/notify`, ...app, minIntervalMs: 0 });
  notifier.send(deviceId, jobId, { v: 1, type: 'progress', jobId, phase: 'fetching', ts: 1 }, { important: true });
  await notifier.flush();
}

async function started(client: ClientUnderTest): Promise<string> {
  const outcome = await client.start();
  if ('error' in outcome) throw new Error(`did not register: ${outcome.error.code} ${outcome.error.message}`);
  return outcome.deviceId;
}

const scenarios: Scenario[] = [
  {
    name: 'registers: RG#<deviceId>, RO#, then REGISTER reaches the backend with x-ca-deviceid',
    gateway: 'plain',
    deviceId: 'scenario-register',
    async run(client, { deviceId, tap }) {
      expect(await started(client)).toBe(deviceId);
      expect(tap.sent).toContain(`RG#${deviceId}`);
      expect(tap.received.some((frame) => frame.startsWith('RO#'))).toBe(true);
      expect(registers(deviceId)).toBe(1);
    },
  },
  {
    name: 'matches each answer to its request by x-ca-seq',
    gateway: 'plain',
    deviceId: 'scenario-seq',
    async run(client) {
      await started(client);
      const bodies = ['{"n":1}', '{"n":2}', '{"n":3}'];
      const answers = await Promise.all(bodies.map((body) => client.request('POST', '/echo', body)));
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
      expect(answers.map((answer) => (JSON.parse(answer.body) as { body: string }).body)).toEqual(bodies);
    },
  },
  {
    name: 'delivers an NF# push and acks it with NO',
    gateway: 'plain',
    deviceId: 'scenario-notify',
    async run(client, { deviceId, tap, gateway }) {
      await started(client);
      await push(gateway, deviceId, 'job-notify');
      await waitFor(async () => (await client.pushes()).length === 1);
      expect(JSON.parse((await client.pushes())[0]!)).toMatchObject({ jobId: 'job-notify', phase: 'fetching' });
      await waitFor(() => tap.sent.includes('NO'));
    },
  },
  {
    name: 'after CR (lifetime reached) reconnects under the same id, registers again and gets pushes',
    gateway: 'cr',
    deviceId: 'scenario-cr',
    async run(client, { deviceId, tap, gateway }) {
      await started(client);
      await waitFor(async () => (await client.reconnects()) >= 1, 10_000);
      expect(tap.received).toContain('CR');
      expect(registers(deviceId)).toBeGreaterThanOrEqual(2);
      // A push may race the next CR: ask again until one lands on a live connection.
      await waitFor(async () => {
        await push(gateway, deviceId, 'job-cr');
        return (await client.pushes()).length > 0;
      }, 10_000);
    },
  },
  {
    name: 'after OS (flow control) reconnects and calls work again',
    gateway: 'os',
    deviceId: 'scenario-os',
    async run(client) {
      await started(client);
      // More frames in a second than the gateway allows: it answers OS and closes.
      await Promise.allSettled(Array.from({ length: 12 }, (_, n) => client.request('POST', '/echo', `{"n":${n}}`)));
      await waitFor(async () => (await client.reconnects()) >= 1, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // a fresh rate window
      const answer = await client.request('POST', '/echo', '{"after":"OS"}');
      expect(JSON.parse(answer.body)).toMatchObject({ body: '{"after":"OS"}' });
    },
  },
  {
    name: 'RF# refuses an invalid device id: it is never registered',
    gateway: 'plain',
    deviceId: 'bad id!',
    async run(client, { kind, deviceId, tap }) {
      const outcome = await client.start();
      expect(tap.received.some((frame) => frame.startsWith('RF#Invalid DeviceId'))).toBe(true);
      expect(registers(deviceId)).toBe(0);
      // The CLI gives up with a typed error; the page takes a new id and registers under it.
      if (kind === 'cli') expect(outcome).toMatchObject({ error: { code: 'GATEWAY_REFUSED', message: expect.stringMatching(/Invalid DeviceId/) } });
      else expect(outcome).toMatchObject({ deviceId: expect.not.stringMatching(/^bad id!$/) });
      if ('deviceId' in outcome) expect(registers(outcome.deviceId)).toBe(1);
    },
  },
];

function findChromium(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const env = {} as Env;

beforeAll(async () => {
  const base: GatewayOptions = {
    apps: [app],
    // ANONYMOUS, as the page calls them; the CLI's signed frames are checked all the same.
    apis: [
      { method: 'POST', path: '/register', auth: 'ANONYMOUS', type: 'REGISTER' },
      { method: 'POST', path: '/notify', auth: 'APP', type: 'NOTIFY' },
      { method: 'POST', path: '/echo', auth: 'ANONYMOUS' },
    ],
    backend: {
      async invoke(event): Promise<ApiGatewayResult> {
        events.push(event);
        return { isBase64Encoded: false, statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: event.path, body: event.body }) };
      },
    },
    // The page's files and, under /protocol/, the compiled modules it imports.
    staticDir: path.join(ROOT, 'web'),
    keepAliveMs: 1000,
    log: () => undefined,
  };
  const start = async (extra: Partial<GatewayOptions>) => {
    const gateway = await startGateway({ ...base, ...extra });
    return { gateway, tap: await startTap(gateway.wsUrl) };
  };
  env.gateways = {
    plain: await start({}),
    cr: await start({ maxConnectionLifetimeMs: 1500 }),
    os: await start({ maxMessagesPerSecond: 8 }),
  };
});

afterAll(async () => {
  for (const { gateway, tap } of Object.values(env.gateways ?? {})) {
    await tap.close();
    await gateway.close();
  }
});

function runScenarios(kind: 'cli' | 'page', factory: () => ClientFactory): void {
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const { gateway, tap } = env.gateways[scenario.gateway];
      // The page's ids are letters and digits only, as its own are.
      const deviceId = scenario.deviceId === 'bad id!' ? scenario.deviceId : `${scenario.deviceId.replace(/-/g, '')}${kind}`;
      const client = factory()(tap.url, deviceId);
      try {
        await scenario.run(client, { kind, deviceId, tap, gateway });
      } finally {
        await client.close();
      }
    }, 30_000);
  }
}

describe('the CLI client', () => runScenarios('cli', () => cliClient(app)));

const chromiumPath = findChromium();
describe.skipIf(!chromiumPath)('the web page client (Chromium; skipped without a `chromium` binary)', () => {
  let context: BrowserContext;
  let factory: ClientFactory;
  beforeAll(async () => {
    context = await chromium.launchPersistentContext('', {
      executablePath: chromiumPath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    // Any document of the gateway's origin: the page's modules are imported from there.
    await page.goto(`${env.gateways.plain.gateway.url}/favicon.svg`);
    factory = pageClient(page);
  });
  afterAll(() => context?.close());
  runScenarios('page', () => factory);
});
