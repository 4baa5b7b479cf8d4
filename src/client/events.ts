/**
 * Everything `ferry get` reports, in order: the worker's progress/done/error messages as received
 * (pushed over the websocket, or read back with GET /jobs/:id after a reconnect), plus the client's
 * own events. `--json` prints each as one line; the progress view draws them. An error that says
 * `retrying` is not final and comes as a `job-retry` event instead: the same job goes on.
 */
import type { FollowEvent } from './job-follow.js';

/** The embedded local stack is up (no --gateway). */
export interface LocalStackEvent {
  type: 'local-stack';
  gateway: string;
}

/** Download progress (throttled; the last one has bytes === total). */
export interface DownloadEvent {
  type: 'download';
  bytes: number;
  total: number | undefined;
}

/** The download broke off and is resumed from `bytes` with a Range request. */
export interface DownloadRetryEvent {
  type: 'download-retry';
  bytes: number;
  attempt: number;
  reason: string;
}

/** The archive is on disk and its sha256 matched the done message. */
export interface SavedEvent {
  type: 'saved';
  path: string;
  size: number;
  sha256: string;
}

export interface ExtractedEvent {
  type: 'extracted';
  dir: string;
  files: number;
}

/** Something skipped that did not fail the command (e.g. a symlink pointing outside --extract). */
export interface WarningEvent {
  type: 'warning';
  message: string;
}

/** The last line of a failed command (exit 1), whatever failed: the job, the gateway or the download. */
export interface FailedEvent {
  type: 'failed';
  code: string;
  message: string;
}

export type CliEvent = FollowEvent | LocalStackEvent | DownloadEvent | DownloadRetryEvent | SavedEvent | ExtractedEvent | WarningEvent | FailedEvent;
