import { describe, expect, it } from 'vitest';
import { decodeJobEvent, encodeJobEvent } from '../../../src/worker/jobs/job-event.js';
import type { JobSpec } from '../../../src/protocol/job.js';

const SECRET = 'dispatch-secret';
const spec: JobSpec = { jobId: 'job-event-0001', repo: 'https://github.com/o/r', ref: 'main', commit: 'a'.repeat(40), format: 'zip', createdAt: 1 };

describe('job events and kinds', () => {
  it('carries the kind, and an event from before kinds still decodes (as an archive, at run time)', () => {
    expect(decodeJobEvent(JSON.parse(encodeJobEvent({ ...spec, kind: 'archive' }, SECRET)), SECRET)).toMatchObject({ kind: 'archive' });
    expect(decodeJobEvent(JSON.parse(encodeJobEvent(spec, SECRET)), SECRET).kind).toBeUndefined();
  });

  it('refuses a signed event naming a kind this worker does not build', () => {
    expect(() => decodeJobEvent(JSON.parse(encodeJobEvent({ ...spec, kind: 'tarball' }, SECRET)), SECRET)).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringContaining('archive') }),
    );
  });
});
