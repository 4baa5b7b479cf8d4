// The helper's stderr progress and its event form, written into a collecting stream.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliEvent } from '../../../src/client/events.js';
import type { FollowEvent } from '../../../src/client/job-follow.js';
import { createProgress } from '../../../src/client/remote-helper/progress.js';

function collector(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

const progressEvent = (phase: 'queued' | 'fetching' | 'bundling', message?: string): FollowEvent =>
  ({ v: 1, type: 'progress', jobId: 'j', phase, ts: 1, ...(message !== undefined && { message }) });

function drive(progress: ReturnType<typeof createProgress>): void {
  progress.job(progressEvent('queued'));
  progress.job(progressEvent('fetching', 'Receiving objects 1/10'));
  progress.job(progressEvent('fetching', 'Receiving objects 9/10'));
  progress.job(progressEvent('bundling'));
  progress.download(500, 1000);
  progress.download(1000, 1000);
  progress.downloaded();
  progress.detail('2 bundle part(s)');
}

describe('helper progress', () => {
  it('with progress on: one line per worker phase, then a download line ended by ", done."', () => {
    const out = collector();
    drive(createProgress({ progress: true, verbosity: 1, stream: out.stream }));
    const lines = out.text().split('\n');
    expect(lines.slice(0, 3)).toEqual(['ferry: worker queued', 'ferry: worker fetching: Receiving objects 1/10', 'ferry: worker bundling']);
    expect(lines[3]).toMatch(/^ferry: Downloading bundles:  50% \(500 B\/1000 B\).*\rferry: Downloading bundles: 100% \(1000 B\/1000 B\).*\rferry: Downloading bundles: 100% .*, done\.$/);
    expect(out.text()).not.toContain('bundle part(s)'); // detail lines need -v
  });

  it.each([
    ['progress off', { progress: false, verbosity: 1 }],
    ['-q', { progress: true, verbosity: 0 }],
  ])('%s: nothing at all', (_name, settings) => {
    const out = collector();
    drive(createProgress({ ...settings, stream: out.stream }));
    expect(out.text()).toBe('');
  });

  it('-v adds the detail lines even without progress', () => {
    const out = collector();
    drive(createProgress({ progress: false, verbosity: 2, stream: out.stream }));
    expect(out.text()).toBe('ferry: 2 bundle part(s)\n');
  });

  it('with an event sink: the worker\'s events as they are and the download as events, nothing drawn', () => {
    const out = collector();
    const events: CliEvent[] = [];
    drive(createProgress({ progress: true, verbosity: 1, stream: out.stream, onEvent: (event) => events.push(event) }));
    expect(events.filter((event) => event.type === 'progress')).toHaveLength(4);
    expect(events.filter((event) => event.type === 'download').at(-1)).toEqual({ type: 'download', bytes: 1000, total: 1000 });
    expect(out.text()).toBe('');
  });
});
