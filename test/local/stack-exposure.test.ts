import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';

// `--require-signature` and `--rate-limit` live in the gateway: nothing else the stack starts may serve a
// client, even with the gateway on every interface. Needs `npm run build` (the stack spawns ./bootstrap).
let dataDir: string;
let stack: LocalStack;
const lines: string[] = [];

const externalIPv4 = Object.values(networkInterfaces())
  .flat()
  .find((address) => address?.family === 'IPv4' && !address.internal)?.address;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-exposure-'));
  stack = await startLocalStack({ dataDir, host: '0.0.0.0', port: 0, requireSignature: true, log: (line) => lines.push(line) });
});

afterAll(async () => {
  await stack?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** The worker's own port, from the line it logs once listening. */
function workerPort(): number {
  const line = lines.find((l) => /ferry worker .* listening on /.test(l));
  const port = line && /:(\d+)\s*$/.exec(line)?.[1];
  if (!port) throw new Error(`no listening line in:\n${lines.join('\n')}`);
  return Number(port);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const unsignedJob = (base: string): Promise<Response> =>
  fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'https://github.com/a/b' }) });

describe('local stack behind --require-signature', () => {
  it('refuses an unsigned job at the gateway', async () => {
    const response = await unsignedJob(stack.api);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  it("does not serve the worker's HTTP API on the worker's own port", async () => {
    const port = workerPort();
    const response = await unsignedJob(`http://127.0.0.1:${port}`);
    expect(response.status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/jobs/j_0123456789abcdef`)).status).toBe(404);
  });

  it("does not serve the worker's HTTP API through the FC emulator's front", async () => {
    expect((await unsignedJob(stack.fc)).status).toBe(404);
  });

  it.skipIf(!externalIPv4)('keeps the worker and the front off the network (skipped without a non-internal IPv4 address)', async () => {
    const host = externalIPv4 as string;
    expect(await canConnect(host, workerPort())).toBe(false);
    expect(await canConnect(host, Number(new URL(stack.fc).port))).toBe(false);
    // The gateway itself is on the network, as asked.
    expect(await canConnect(host, Number(new URL(stack.api).port))).toBe(true);
  });
});
