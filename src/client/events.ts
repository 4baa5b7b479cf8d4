// An error that says `retrying` is not final and comes as a `job-retry` event instead: the same
// job goes on.
import type { FollowEvent } from './job-follow.js';

export interface LocalStackEvent {
  type: 'local-stack';
  gateway: string;
}

/** An attempt to connect to the gateway starts (`--gateway` only: the embedded stack has its own line). */
export interface ConnectingEvent {
  type: 'connecting';
  gateway: string;
  attempt: number;
  /** After a dropped connection, rather than the first connect. */
  reconnect: boolean;
}

/** Download progress (throttled; the last one has bytes === total). */
export interface DownloadEvent {
  type: 'download';
  bytes: number;
  total: number | undefined;
  /** Parallel connections open now, when more than one may be. */
  connections?: number | undefined;
}

export interface DownloadRetryEvent {
  type: 'download-retry';
  bytes: number;
  attempt: number;
  reason: string;
}

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

export type CliEvent = FollowEvent | LocalStackEvent | ConnectingEvent | DownloadEvent | DownloadRetryEvent | SavedEvent | ExtractedEvent | WarningEvent | FailedEvent;
