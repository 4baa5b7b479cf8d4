// The embedded stack's SSRF guard: strict by default (a `ferry serve` fetches public hosts), the user's own
// FERRY_ALLOWED_DESTINATIONS passed through, and an --allow-host given with a port allowed as a destination.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedDestinations, startLocalStack, type LocalStack } from '../../src/local/stack.js';

describe('allowedDestinations', () => {
  it('takes the environment\'s entries and the allowed hosts named with a port, nothing else', () => {
    expect(allowedDestinations([], {})).toEqual([]);
    expect(allowedDestinations(['github.com', 'localhost', '127.0.0.1:8080'], {})).toEqual(['127.0.0.1:8080']);
    expect(allowedDestinations(['git.lan:3000'], { FERRY_ALLOWED_DESTINATIONS: ' 10.0.0.5:443 ,git.internal:443' })).toEqual(['10.0.0.5:443', 'git.internal:443', 'git.lan:3000']);
  });
});

describe('the embedded stack and internal destinations', () => {
  let work: string;
  let stack: LocalStack;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ferry-stack-destinations-'));
    // Hosts allowed without a port: their names are served, their loopback destinations are not.
    stack = await startLocalStack({ dataDir: join(work, 'stack'), port: 0, allowHosts: ['127.0.0.1', 'localhost'], allowHttp: true });
  });
  afterAll(async () => {
    await stack?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.each([['http://127.0.0.1/fixtures/basic'], ['http://2130706433/fixtures/basic'], ['http://localhost/fixtures/basic']])(
    'POST /jobs for %s answers 403 DESTINATION_FORBIDDEN as JSON',
    async (url) => {
      const response = await fetch(`${stack.api}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }) });
      expect(response.status).toBe(403);
      const body = (await response.json()) as { code: string; message: string };
      expect(body.code).toBe('DESTINATION_FORBIDDEN');
      expect(body.message).toContain('FERRY_ALLOWED_DESTINATIONS');
    },
  );
});
