// @ts-check
// An error that says `retrying` is not the end: Function Compute delivers the job again to another
// instance, which runs it from the start. The job waits as queued.

import { applyMessage as foldMessage, PHASES } from './protocol/job.js';
import { stateToMessage } from './protocol/job-messages.js';
import { parseFileUrl } from './protocol/file-url.js';
import { nextCommands as commandsFor } from './protocol/next-steps.js';
import { expandShorthand } from './protocol/shorthand.js';

export { PHASES };

/**
 * The steps a card shows, by what the job builds: a file is downloaded from upstream, a repository fetched
 * and archived (the page submits no bundles).
 * @param {Job} job
 * @returns {Phase[]}
 */
export function stepsOf(job) {
  return job.kind === 'file' || job.format === 'file'
    ? ['queued', 'resolving', 'downloading', 'uploading', 'signing']
    : ['queued', 'resolving', 'fetching', 'archiving', 'uploading', 'signing'];
}

/** @typedef {import('./protocol/job.js').Phase} Phase */
/** @typedef {import('./protocol/job.js').JobStatus} Status */
/** @typedef {import('./protocol/formats.js').ArchiveFormat | 'file'} Format */
/** @typedef {import('./protocol/job.js').JobMessage} JobMessage */

/**
 * Times are on the browser's clock except `updatedAt`, the newest server time folded in.
 * @typedef {import('./protocol/job.js').JobState & PageFields} Job
 */

/**
 * @typedef {object} PageFields
 * @property {string} input what the user typed (for "try again")
 * @property {string} inputRef
 * @property {number} [finishedAt] ms
 * @property {string} [deviceId] the device its pushes go to
 * @property {boolean} [retrying] its instance stopped it and it waits to be run again elsewhere
 * @property {boolean} [resumed] its worker died and a later attempt runs it again from the start
 */

const STORAGE_KEY = 'ferry.jobs.v1';
const MAX_JOBS = 30;
const KEEP_FINISHED_MS = 7 * 24 * 3600 * 1000;

/** @param {unknown} value */
function isRecord(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @param {Record<string, unknown>} obj
 * @param {string} key
 */
function num(obj, key) {
  const value = obj[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * @param {Record<string, unknown>} obj
 * @param {string} key
 */
function str(obj, key) {
  const value = obj[key];
  return typeof value === 'string' ? value : undefined;
}

/** @param {Job} job */
export function isActive(job) {
  return job.status === 'queued' || job.status === 'running';
}

/**
 * @param {Job} job
 * @param {number} now
 */
export function isExpired(job, now) {
  return job.result !== undefined && Date.parse(job.result.expiresAt) <= now;
}

/**
 * @param {Record<string, unknown>} json
 * @param {{ input: string, inputRef: string, format: Format, deviceId: string, now: number }} context  format 'file' for a file job
 * @returns {Job}
 */
export function jobFromSubmit(json, context) {
  /** @type {Job} */
  const job = {
    jobId: str(json, 'jobId') ?? '',
    input: context.input,
    inputRef: context.inputRef,
    repo: str(json, 'repo') ?? context.input,
    ref: str(json, 'ref') ?? context.inputRef,
    commit: str(json, 'commit') ?? '',
    format: json.format === 'tar.gz' || json.format === 'file' ? json.format : context.format,
    ...(json.kind === 'file' || json.format === 'file' || context.format === 'file' ? { kind: 'file' } : {}),
    status: 'queued',
    phase: 'queued',
    createdAt: context.now,
    updatedAt: 0,
    deviceId: context.deviceId,
  };
  return applyState(job, json);
}

/**
 * Fold a flat GET /jobs/:id state (or a 200 POST answer) in, as the push it stands for. The server's state
 * is the truth, so unlike a push it may move the steps back (a job run again). Older than what we have: ignored.
 * @param {Job} job
 * @param {Record<string, unknown>} state
 * @returns {Job}
 */
export function applyState(job, state) {
  const updatedAt = num(state, 'updatedAt') ?? 0;
  if (!isActive(job) || (updatedAt !== 0 && updatedAt < job.updatedAt)) return job;
  const base = {
    ...job,
    repo: str(state, 'repo') ?? job.repo,
    ref: str(state, 'ref') ?? job.ref,
    commit: str(state, 'commit') ?? job.commit,
  };
  const status = str(state, 'status');
  const message = status === 'queued' || status === 'running' || status === 'done' || status === 'error' ? stateToMessage({ ...state, jobId: job.jobId }) : undefined;
  if (!message) return base;
  if (message.type === 'error' && message.retrying === true) return { ...awaitRetry(base), updatedAt: Math.max(job.updatedAt, updatedAt) };
  const next = fold(base, message);
  if ((num(state, 'attempt') ?? 1) > (job.attempt ?? 1)) next.resumed = true;
  // The answer to our own POST carries no time: an early push must still count as newer.
  next.updatedAt = Math.max(job.updatedAt, updatedAt);
  if (next.status === 'done' || next.status === 'error') {
    // Times shown are on the browser's clock; the server's only gives the job's duration.
    const serverCreated = num(state, 'createdAt');
    next.finishedAt = serverCreated !== undefined && updatedAt > 0 ? job.createdAt + Math.max(0, updatedAt - serverCreated) : Date.now();
  }
  return next;
}

/**
 * Fold one NF# message in (parsed by protocol/job-messages.js parseMessage). Returns undefined when it is
 * not about this job, the job is over, or it is stale: an older push, or one that would move the steps back.
 * @param {Job} job
 * @param {JobMessage} message
 * @returns {Job | undefined}
 */
export function applyMessage(job, message) {
  if (message.jobId !== job.jobId || !isActive(job)) return undefined;
  if (message.type === 'error' && message.retrying === true) return awaitRetry(job);
  // A later attempt (its worker died) starts over: its steps go back, and that is news, not staleness.
  const restarted = message.type === 'progress' && (message.attempt ?? 1) > (job.attempt ?? 1);
  if (message.type === 'progress' && !restarted) {
    if (message.ts < job.updatedAt) return undefined;
    if (job.phase && PHASES.indexOf(message.phase) < PHASES.indexOf(job.phase)) return undefined;
  }
  const next = fold(job, message);
  if (restarted) next.resumed = true;
  if (message.type === 'progress') next.updatedAt = message.ts;
  else next.updatedAt = job.updatedAt;
  if (message.type === 'done' || message.type === 'error') next.finishedAt = Date.now();
  return next;
}

/**
 * Plus the page's fields: a finished or progressing job is no longer waiting for a retry.
 * @param {Job} job
 * @param {JobMessage} message
 * @returns {Job}
 */
function fold(job, message) {
  const { retrying: _r, ...rest } = job;
  // The fold keeps the page's own fields and drops the previous message's progress: spreading `rest`
  // under it would bring back a percent the new message does not have.
  const next = /** @type {Job} */ (foldMessage(rest, message));
  if (message.type === 'done') {
    next.commit = message.commit ?? job.commit;
    next.ref = message.ref ?? job.ref;
  }
  if (next.percent !== undefined) next.percent = Math.max(0, Math.min(100, next.percent));
  return next;
}

/**
 * Back to the first step: the next instance starts the job over, and its progress must not be taken
 * for a step backwards.
 * @param {Job} job
 * @returns {Job}
 */
function awaitRetry(job) {
  const { percent: _p, bytes: _b, total: _t, queuePosition: _q, message: _m, ...rest } = job;
  return { ...rest, status: 'queued', phase: 'queued', retrying: true };
}

/**
 * `https://github.com/owner/repo` → `owner/repo`; other hosts keep theirs.
 * @param {string} repo
 */
export function shortRepo(repo) {
  try {
    const url = new URL(repo);
    const path = url.pathname.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
    return /^(github\.com|gitee\.com|gitlab\.com|bitbucket\.org|codeberg\.org)$/.test(url.host) ? path : `${url.host}/${path}`;
  } catch {
    return repo;
  }
}

/** Jobs in localStorage, newest first. */
export class JobStore {
  /** @type {Map<string, Job>} */
  #jobs = new Map();

  load() {
    /** @type {unknown} */
    let saved;
    try {
      saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    } catch {
      saved = [];
    }
    const now = Date.now();
    for (const item of Array.isArray(saved) ? saved : []) {
      if (!isRecord(item) || typeof item.jobId !== 'string' || typeof item.repo !== 'string') continue;
      const job = /** @type {Job} */ (item);
      if (!isActive(job) && now - (job.finishedAt ?? job.createdAt) > KEEP_FINISHED_MS) continue;
      this.#jobs.set(job.jobId, job);
    }
  }

  /** @returns {Job[]} */
  list() {
    return [...this.#jobs.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  /** @param {string} jobId */
  get(jobId) {
    return this.#jobs.get(jobId);
  }

  /**
   * @param {Job} job
   * @param {boolean} [persist] false for a progress tick: kept in memory, written with the next change that counts
   */
  put(job, persist = true) {
    this.#jobs.set(job.jobId, job);
    if (persist) this.#save();
  }

  /** @param {string} jobId */
  remove(jobId) {
    this.#jobs.delete(jobId);
    this.#save();
  }

  clearFinished() {
    for (const job of this.#jobs.values()) if (!isActive(job)) this.#jobs.delete(job.jobId);
    this.#save();
  }

  #save() {
    const jobs = this.list();
    // Past the limit, drop the oldest finished jobs; running ones are always kept.
    while (jobs.length > MAX_JOBS) {
      let index = jobs.length - 1;
      while (index >= 0 && isActive(/** @type {Job} */ (jobs[index]))) index--;
      if (index < 0) break;
      const [dropped] = jobs.splice(index, 1);
      if (dropped) this.#jobs.delete(dropped.jobId);
    }
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(jobs));
    } catch {
      // Storage full or disabled: the history lasts for this page only.
    }
  }
}

/**
 * Checked before sending so a typo gets a hint at once; the server still decides (allowed hosts, http://).
 * @param {string} raw
 * @returns {string | undefined} an i18n key for the hint, or undefined when it looks fine
 */
export function checkRepoUrl(raw) {
  const value = raw.trim();
  if (value === '') return 'hint.url.empty';
  // A file link (release asset, raw, /blob/, source archive, gist) may carry a query: the server checks the rest.
  if (fileTargetOf(value)) return undefined;
  // `owner/repo` is GitHub's, as the server reads it.
  if (expandShorthand(value)) return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f\\]/.test(value)) return 'hint.url.spaces';
  const scp = /^git@([^:/]+):(.+)$/.exec(value);
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(value) && !scp;
  if (hasScheme && !/^https?:\/\//i.test(value)) return 'hint.url.scheme';
  /** @type {URL} */
  let url;
  try {
    url = new URL(scp ? `https://${scp[1]}/${scp[2]}` : hasScheme ? value : `https://${value}`);
  } catch {
    return 'hint.url.malformed';
  }
  if (!url.hostname || !/^[a-z0-9.-]+$/i.test(url.hostname) || !(url.hostname.includes('.') || url.hostname === 'localhost')) {
    return 'hint.url.malformed';
  }
  if (url.username || url.password) return 'hint.url.credentials';
  if (url.search || url.hash) return 'hint.url.query';
  const segments = url.pathname.split('/').filter(Boolean);
  if (segments.length === 0 || (segments.length === 1 && segments[0] === '.git')) return 'hint.url.path';
  return undefined;
}

/**
 * The file a pasted URL names (same parser as the CLI and the worker), or undefined for a repository.
 * @param {string} raw
 * @returns {import('./protocol/file-url.js').FileTarget | undefined}
 */
export function fileTargetOf(raw) {
  try {
    return parseFileUrl(raw.trim());
  } catch {
    return undefined;
  }
}

/**
 * git check-ref-format's rules, as the server applies them (src/protocol/refs.ts).
 * @param {string} raw
 * @returns {string | undefined}
 */
export function checkRef(raw) {
  const ref = raw.trim();
  if (ref === '') return undefined;
  const bad =
    ref.length > 255 ||
    ref.startsWith('-') ||
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u0020\u007f~^:?*[\\]/.test(ref) ||
    ref.includes('..') ||
    ref.includes('@{') ||
    ref.includes('//') ||
    ref === '@' ||
    ref.startsWith('/') ||
    ref.endsWith('/') ||
    ref.endsWith('.') ||
    ref.endsWith('.lock') ||
    ref.split('/').some((part) => part.startsWith('.'));
  return bad ? 'hint.ref.invalid' : undefined;
}

/**
 * Shell commands for a finished job (protocol/next-steps.ts, as the CLI prints them).
 * @param {Job} job
 * @param {NonNullable<Job['result']>} result
 */
export function nextCommands(job, result) {
  return commandsFor(result, job.kind === 'file' || job.format === 'file' ? undefined : job.repo);
}
