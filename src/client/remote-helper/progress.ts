// Progress on stderr in git's own style: a line per worker phase, then one line rewritten with `\r`
// while the bundles download ("Title: 45% (1.2 MiB/2.7 MiB), 3.1 MiB/s"), closed by ", done.".
// Nothing at all unless git asked for progress (a terminal, or --progress; never with -q).
import { formatBytes } from '../../util/bytes.js';
import type { CliEvent } from '../events.js';
import type { FollowEvent } from '../job-follow.js';

export interface HelperProgress {
  job(event: FollowEvent): void;
  download(bytes: number, total: number): void;
  /** Ends the download line (prints ", done."). */
  downloaded(): void;
  /** A line shown at verbosity 2 and above (git -v), progress or not. */
  detail(line: string): void;
}

export interface ProgressSettings {
  progress: boolean;
  verbosity: number;
  stream?: NodeJS.WritableStream;
  /**
   * Where the events go instead of stderr lines (a `ferry clone` drawing its own bars): the worker's
   * events as they come, the download as `download` events. `detail` lines still go to stderr.
   */
  onEvent?: ((event: CliEvent) => void) | undefined;
}

// Redraws of the download line: often enough to look live, rarely enough not to flood a slow terminal.
const REDRAW_MS = 100;

export function createProgress(settings: ProgressSettings): HelperProgress {
  if (settings.onEvent) return eventProgress(settings.onEvent, settings);
  const stream = settings.stream ?? process.stderr;
  const write = (text: string): void => void stream.write(text);
  const show = settings.progress && settings.verbosity > 0;
  let phase: string | undefined;
  let started: number | undefined;
  let lastDraw = 0;
  let line = '';

  const downloadLine = (bytes: number, total: number): string => {
    const percent = total > 0 ? Math.floor((bytes / total) * 100) : 100;
    const seconds = (Date.now() - (started ?? Date.now())) / 1000;
    const speed = seconds > 0 ? `, ${formatBytes(bytes / seconds)}/s` : '';
    return `ferry: Downloading bundles: ${String(percent).padStart(3)}% (${formatBytes(bytes)}/${formatBytes(total)})${speed}`;
  };

  return {
    job(event) {
      if (!show) return;
      if (event.type === 'progress') {
        const detail = event.phase === 'queued' && event.queuePosition ? `position ${event.queuePosition} in the queue` : event.message;
        // A phase is announced once; git's own counts inside `fetching` would be hundreds of lines.
        if (event.phase === phase) return;
        phase = event.phase;
        write(`ferry: worker ${event.phase}${detail ? `: ${detail}` : ''}\n`);
      } else if (event.type === 'reconnect') {
        write(`ferry: reconnected to the gateway (${event.reason})\n`);
      } else if (event.type === 'job-resumed') {
        // Its phases start over: each is announced again.
        phase = undefined;
        write(`ferry: worker restarted, resuming (attempt ${event.attempt})\n`);
      } else if (event.type === 'job-retry') {
        write('ferry: the worker instance stopped; waiting for the job to be retried on another one\n');
      }
    },
    download(bytes, total) {
      if (!show) return;
      started ??= Date.now();
      const now = Date.now();
      if (now - lastDraw < REDRAW_MS && bytes < total) return;
      lastDraw = now;
      const next = downloadLine(bytes, total);
      // A shorter line than the last one must blank the rest of it, as git's own progress does.
      write(`${next.padEnd(line.length)}\r`);
      line = next;
    },
    downloaded() {
      if (!show || line === '') return;
      write(`${line}, done.\n`);
      line = '';
    },
    detail(text) {
      if (settings.verbosity >= 2) write(`ferry: ${text}\n`);
    },
  };
}

function eventProgress(onEvent: (event: CliEvent) => void, settings: ProgressSettings): HelperProgress {
  const stream = settings.stream ?? process.stderr;
  let lastSent = 0;
  return {
    job: (event) => onEvent(event),
    download(bytes, total) {
      const now = Date.now();
      if (now - lastSent < REDRAW_MS && bytes < total) return;
      lastSent = now;
      onEvent({ type: 'download', bytes, total });
    },
    downloaded: () => undefined,
    detail(text) {
      if (settings.verbosity >= 2) stream.write(`ferry: ${text}\n`);
    },
  };
}
