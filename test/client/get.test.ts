/**
 * ferryGet as a library call: a stop (Ctrl+C) before the job wait must end the command at once,
 * not after the gateway client has used up its reconnect attempts.
 */
import { describe, expect, it } from 'vitest';
import { ferryGet } from '../../src/client/get.js';

describe('ferryGet', () => {
  it('an abort while connecting stops at once with TIMEOUT', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 200);
    // Port 1 refuses every attempt: on its own the client would retry for about 20 s.
    const result = ferryGet({ url: 'https://github.com/a/b', format: 'zip', gateway: 'ws://127.0.0.1:1', timeoutMs: 60_000, signal: controller.signal });
    await expect(result).rejects.toMatchObject({ code: 'TIMEOUT', message: 'Interrupted.' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('--timeout covers connecting too', async () => {
    const result = ferryGet({ url: 'https://github.com/a/b', format: 'zip', gateway: 'ws://127.0.0.1:1', timeoutMs: 300 });
    await expect(result).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/--timeout/) });
  });
});
