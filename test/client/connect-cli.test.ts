// `ferry get --gateway <address nothing listens on>` through its real process: it says what it is doing,
// gives up quickly on a refused connection and names the address and the cause.
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/ferry-cli.js';

let gateway: string;
let cwd: string;

beforeAll(async () => {
  // A port that was free a moment ago: connecting to it is refused.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gateway = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise((resolve) => server.close(resolve));
  cwd = await mkdtemp(join(tmpdir(), 'ferry-connect-'));
});

afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('ferry get --gateway <refused address>', () => {
  it('reports each attempt and fails after 2 with GATEWAY_UNREACHABLE naming the address and "connection refused"', async () => {
    const { code, stderr } = await runFerry(['get', 'https://github.com/a/b', '--gateway', gateway], { cwd });
    expect(code).toBe(1);
    const attempts = stderr.split('\n').filter((line) => line.startsWith(`connecting to ${gateway} (attempt `));
    expect(attempts).toEqual([`connecting to ${gateway} (attempt 1)`, `connecting to ${gateway} (attempt 2)`]);
    expect(stderr).toContain(`ferry: GATEWAY_UNREACHABLE: Cannot reach the gateway at ${gateway} after 2 attempts: connection refused`);
  });

  it('--json: one `connecting` event per attempt, then `failed`', async () => {
    const { code, events } = await runFerry(['get', 'https://github.com/a/b', '--gateway', gateway, '--json'], { cwd });
    expect(code).toBe(1);
    expect(events.filter((event) => event.type === 'connecting')).toEqual([
      { type: 'connecting', gateway, attempt: 1, reconnect: false },
      { type: 'connecting', gateway, attempt: 2, reconnect: false },
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'failed', code: 'GATEWAY_UNREACHABLE', message: expect.stringContaining('connection refused') });
  });
});
