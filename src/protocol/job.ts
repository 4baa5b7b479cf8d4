import type { FerryErrorJSON } from './errors.js';
import type { ArtifactFormat } from './formats.js';

export type Phase = 'queued' | 'resolving' | 'fetching' | 'downloading' | 'archiving' | 'bundling' | 'uploading' | 'signing';
/** In the order a job goes through them; `downloading` is a file job's upstream fetch (kind `file`). */
export const PHASES: readonly Phase[] = ['queued', 'resolving', 'fetching', 'downloading', 'archiving', 'bundling', 'uploading', 'signing'];

export interface JobSpec {
  jobId: string;
  /** Absent in events from before kinds, which are archives. */
  kind?: string;
  /** The canonical repository URL, or for kind `file` the file's URL as normalised (a /blob/ link as its raw form). */
  repo: string;
  /** The ref as the user named it (or the default branch's name); for files, the tag or branch the URL names, else ''. */
  ref: string;
  /** For files: the full commit id the URL names, else ''. */
  commit: string;
  format: ArtifactFormat;
  /** Bundles only: the refs to include (full names); absent means every branch and tag. */
  refs?: string[];
  /** Bundles only: commits the client already has; the bundle leaves out what they reach. */
  have?: string[];
  deviceId?: string | undefined;
  /**
   * A private repository's token, sealed (AES-256-GCM under a key derived from FERRY_DISPATCH_SECRET) for the
   * job event; never in a job's state. Absent for public repositories.
   */
  sealedToken?: string;
  createdAt: number;
  /** The submitter's quota counters (`ip-<hmac>`, …): the artifact's bytes count against them when the job is done. */
  quotaKeys?: string[];
}

// The progress wire messages (the NF# body, `v: 1`), exactly as in the protocol docs.
export interface ProgressMessage {
  v: 1;
  type: 'progress';
  jobId: string;
  phase: Phase;
  percent?: number;
  bytes?: number;
  total?: number;
  message?: string;
  queuePosition?: number;
  /**
   * What the phase is doing now, for clients to name in their language (`fetching`: git's stages, see
   * docs/protocol.md); `message` says the same in English. Unknown values: show `message`.
   */
  stage?: string;
  /** The stage's own count (objects, deltas) and its end when known; `percent` is the whole phase's. */
  stageDone?: number;
  stageTotal?: number;
  /**
   * The run of the job this message comes from, when it is not the first: a worker that died (or was
   * reclaimed) is replaced and the job starts over, so its phases go back. `message` then says so.
   */
  attempt?: number;
  ts: number;
}

/** One git bundle of a bundle job's answer; `parts` are applied in order (each needs the ones before it). */
export interface BundlePart {
  url: string;
  filename: string;
  size: number;
  sha256: string;
  /**
   * The pack index (`.idx`) of the bundle's pack, for full bundles whose pack the worker already had
   * indexed: a client may install pack and index as they are instead of running `git index-pack`.
   */
  index?: { url: string; size: number; sha256: string };
}

export interface DoneResult {
  /** The artifact, or for bundles the first part (empty when `parts` is empty: the client has everything). */
  url: string;
  expiresAt: string;
  filename: string;
  size: number;
  sha256: string;
  commit: string;
  ref: string;
  format: ArtifactFormat;
  cached: boolean;
  /** Bundles only: every bundle to apply, in order: a cached full bundle, then incremental ones. */
  parts?: BundlePart[];
}

export interface DoneMessage extends DoneResult {
  v: 1;
  type: 'done';
  jobId: string;
  /** The job's repository (or a file's URL): present when the message was rebuilt from a job state. */
  repo?: string;
}

export interface ErrorMessage extends FerryErrorJSON {
  v: 1;
  type: 'error';
  jobId: string;
}

export type JobMessage = ProgressMessage | DoneMessage | ErrorMessage;

export type JobStatus = 'queued' | 'running' | 'done' | 'error';

/** What GET /jobs/:id answers and what jobs/<id>.json holds. */
export interface JobState {
  jobId: string;
  /** Absent in records from before kinds, which are archives. */
  kind?: string;
  status: JobStatus;
  repo: string;
  ref: string;
  commit: string;
  format: ArtifactFormat;
  createdAt: number;
  updatedAt: number;
  phase?: Phase;
  percent?: number;
  bytes?: number;
  total?: number;
  queuePosition?: number;
  message?: string;
  stage?: string;
  stageDone?: number;
  stageTotal?: number;
  result?: DoneResult;
  error?: FerryErrorJSON;
  /** Which run of the job this is (1 first); a later one began after its worker died or was reclaimed. */
  attempt?: number;
  /**
   * When the worker holding the job last said it is alive (its clock, ms). Written by the worker every
   * heartbeat while the job is queued on it, runs, or waits to be retried; a non-final state whose
   * heartbeat is older than the bound ends as WORKER_LOST (docs/reliability.md).
   */
  heartbeatAt?: number;
  /** The device the job's pushes go to: stored so whoever finds the job lost can tell it; never answered. */
  deviceId?: string;
}

/** A state nothing changes any more: done, or an error no other attempt follows. */
export function isFinal(state: Pick<JobState, 'status' | 'error'>): boolean {
  return state.status === 'done' || (state.status === 'error' && state.error?.retrying !== true);
}

/** Fold one message into a state: the single place that decides what a message means for status. */
export function applyMessage(state: JobState, message: JobMessage): JobState {
  const base = { ...state, updatedAt: message.type === 'progress' ? message.ts : Date.now() };
  if (message.type === 'done') {
    const { v: _v, type: _t, jobId: _j, ...result } = message;
    return { ...stripProgress(base), status: 'done', result };
  }
  if (message.type === 'error') {
    const { code, message: text, retrying } = message;
    return { ...stripProgress(base), status: 'error', error: { code, message: text, ...(retrying && { retrying }) } };
  }
  const { phase, percent, bytes, total, queuePosition, stage, stageDone, stageTotal, attempt } = message;
  return {
    ...stripProgress(base),
    ...(attempt !== undefined && { attempt }),
    status: phase === 'queued' ? 'queued' : 'running',
    phase,
    ...(percent !== undefined && { percent }),
    ...(bytes !== undefined && { bytes }),
    ...(total !== undefined && { total }),
    ...(queuePosition !== undefined && { queuePosition }),
    ...(message.message !== undefined && { message: message.message }),
    ...(stage !== undefined && { stage }),
    ...(stageDone !== undefined && { stageDone }),
    ...(stageTotal !== undefined && { stageTotal }),
  };
}

function stripProgress(state: JobState): JobState {
  const { phase: _p, percent: _pc, bytes: _b, total: _t, queuePosition: _q, message: _m, stage: _s, stageDone: _sd, stageTotal: _st, ...rest } = state;
  return rest;
}

export function stateToJSON(state: JobState): Record<string, unknown> {
  const { result, error, deviceId: _d, ...rest } = state;
  return { ...rest, ...(result ?? {}), ...(error ?? {}) };
}
