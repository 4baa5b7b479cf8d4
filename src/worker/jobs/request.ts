import { fileRequest } from '../artifacts/file.js';
import { ARTIFACT_KINDS, artifactKind } from '../artifacts/registry.js';
import type { ArtifactKind, ArtifactRequest, BuildContext, FileKind, KindCore, LookupContext } from '../artifacts/types.js';
import type { Config } from '../config.js';
import { DEVICE_ID_RULE, isDeviceId } from '../../protocol/device-id.js';
import { FerryError } from '../../protocol/errors.js';
import type { FileTarget } from '../../protocol/file-url.js';
import { ARCHIVE_FORMATS, type ArtifactFormat } from '../../protocol/formats.js';
import type { DoneResult, JobSpec, Phase } from '../../protocol/job.js';
import { refNameProblem, type RefSpec } from '../../protocol/refs.js';
import { refChoice } from '../git/tree-ref.js';
import { parseRepoUrl, type RepoRef } from '../git/url.js';
import { openAccess, requestAccess, type RepoAccess } from '../git/access.js';
import { assertRepoAllowed, repoNameOf, repoNameOfFile } from '../repo-lists.js';

/** A POST /jobs body, checked: a repository with what to make of it, or (kind `file`) a file URL. */
export type JobRequest = RepoJobRequest | FileJobRequest;

export interface RepoJobRequest {
  kind: ArtifactKind;
  repo: RepoRef;
  ref: RefSpec;
  /** `/tree/a/b/c` without `ref`: the ref is the longest prefix the remote has, found when the job is submitted. */
  tree?: string[];
  format: ArtifactFormat;
  /** Bundles only. */
  refs?: string[];
  have?: string[];
  deviceId: string | undefined;
}

export interface FileJobRequest {
  kind: FileKind;
  target: FileTarget;
  deviceId: string | undefined;
}

const JOB_ID = /^[A-Za-z0-9_-]{8,64}$/;
const KNOWN_FIELDS = new Set(['kind', 'url', 'ref', 'format', 'refs', 'have', 'deviceId', 'token']);
const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** Enough for every branch of a busy repository; beyond it, a client sends its newest tips. */
export const MAX_HAVES = 1000;
const MAX_REFS = 1000;

/** The one place a POST /jobs body is checked; every message says what to change. */
export function parseJobRequest(body: unknown, config: Config, headerDeviceId: string | null, headerToken: string | null = null): JobRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new FerryError('BAD_REQUEST', 'Expected a JSON object such as {"url":"https://github.com/owner/repo","format":"zip"}.');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) {
    throw new FerryError('BAD_REQUEST', `Unknown field ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')}: expected kind, url, ref, format, refs, have, deviceId, token.`);
  }
  if (fields.kind !== undefined && typeof fields.kind !== 'string') {
    throw new FerryError('BAD_REQUEST', `Expected \`kind\` to be one of ${ARTIFACT_KINDS.join(', ')}, got ${JSON.stringify(fields.kind).slice(0, 40)}.`);
  }
  const kind = artifactKind(fields.kind);
  if (kind.input === 'file') {
    if (fields.token !== undefined || (headerToken !== null && headerToken !== '')) {
      throw new FerryError('INVALID_TOKEN', 'A token is for private repositories (kinds archive and bundle); a file job fetches public files only: leave the token out.');
    }
    const extra = ['ref', 'format', 'refs', 'have'].filter((field) => fields[field] !== undefined);
    if (extra.length > 0) {
      throw new FerryError('BAD_REQUEST', `A file job takes only \`url\` (and \`deviceId\`): remove ${extra.map((field) => `\`${field}\``).join(', ')}.`);
    }
    const target = checkedFile(kind.target(fields.url, config), config);
    return { kind, target, deviceId: jobDeviceId(fields.deviceId, headerDeviceId) };
  }
  const repo = withAccess(checkedRepo(parseRepoUrl(fields.url, config), config), requestAccess(fields.token, headerToken, config.dispatch.secret));
  const deviceId = jobDeviceId(fields.deviceId, headerDeviceId);
  if (kind.name === 'bundle') {
    if (fields.format !== undefined && fields.format !== 'bundle') {
      throw new FerryError('INVALID_FORMAT', `A bundle job has no \`format\` (or "bundle"), got ${JSON.stringify(fields.format).slice(0, 40)}.`);
    }
    if (fields.ref !== undefined) throw new FerryError('BAD_REQUEST', 'A bundle job takes `refs` (a list of full ref names), not `ref`.');
    return {
      kind,
      repo,
      ref: { kind: 'default' },
      format: 'bundle',
      ...(fields.refs !== undefined && { refs: parseBundleRefs(fields.refs) }),
      ...(fields.have !== undefined && { have: parseHaves(fields.have) }),
      deviceId,
    };
  }
  for (const field of ['refs', 'have'] as const) {
    if (fields[field] !== undefined) throw new FerryError('BAD_REQUEST', `\`${field}\` is for bundle jobs ({"kind":"bundle"}); an archive takes \`ref\`.`);
  }
  const format = fields.format ?? 'zip';
  if (typeof format !== 'string' || !ARCHIVE_FORMATS.includes(format as ArchiveFormatName)) {
    throw new FerryError('INVALID_FORMAT', `Expected \`format\` to be one of ${ARCHIVE_FORMATS.join(', ')}, got ${JSON.stringify(format).slice(0, 40)}.`);
  }
  const choice = refChoice(repo, fields.ref);
  return { kind, repo, ref: choice.ref ?? { kind: 'default' }, ...(choice.tree && { tree: choice.tree }), format: format as ArchiveFormatName, deviceId };
}

type ArchiveFormatName = (typeof ARCHIVE_FORMATS)[number];

/** A kind bound to one job's request: what the runner drives, whatever the kind's input. */
export interface BoundJob {
  phases: readonly Phase[];
  /** What the `resolving` phase reports. */
  resolved: string;
  buildKey(ctx: LookupContext): Promise<string>;
  lookup(ctx: LookupContext): Promise<DoneResult | undefined>;
  build(ctx: BuildContext): Promise<DoneResult>;
}

/** The request a job's spec names, checked again: a job event is input too, even when signed. */
export function bindSpec(spec: JobSpec, config: Config): BoundJob {
  const kind = artifactKind(spec.kind);
  if (kind.input === 'file') {
    // A job's own lookups take only what upstream confirmed since the job was asked for; its build asks.
    const request = fileRequest(checkedFile(kind.target(spec.repo, config), config), { requestedAt: spec.createdAt, revalidate: false });
    return bind(kind, request, request.target.url);
  }
  const request: ArtifactRequest = {
    repo: withAccess(checkedRepo(parseRepoUrl(spec.repo, config), config), spec.sealedToken === undefined ? undefined : openAccess(spec.sealedToken, config.dispatch.secret)),
    ref: spec.ref,
    commit: spec.commit,
    format: spec.format,
    ...(spec.refs && { refs: parseBundleRefs(spec.refs) }),
    ...(spec.have && { have: parseHaves(spec.have) }),
  };
  return bind(kind, request, `${spec.ref} → ${spec.commit.slice(0, 12)}`);
}

/** The repository as one request's token sees it (its mirrors, caches and artifacts are the token's own). */
export function withAccess(repo: RepoRef, access: RepoAccess | undefined): RepoRef {
  return access ? { ...repo, access } : repo;
}

/** A repository URL, checked against FERRY_ALLOWED_REPOS / FERRY_DENIED_REPOS (also for GET /refs). */
export function checkedRepo(repo: RepoRef, config: Pick<Config, 'repoLists'>): RepoRef {
  assertRepoAllowed(repoNameOf(repo.host, repo.segments), config.repoLists, repo.canonical);
  return repo;
}

/** A file URL, checked against the same lists through the repository it belongs to (repo-lists.ts). */
function checkedFile(target: FileTarget, config: Pick<Config, 'repoLists'>): FileTarget {
  assertRepoAllowed(repoNameOfFile(target), config.repoLists, target.url.replace(/[?#].*$/, ''));
  return target;
}

function bind<Request>(kind: KindCore<Request>, request: Request, resolved: string): BoundJob {
  return {
    phases: kind.phases,
    resolved,
    buildKey: (ctx) => kind.buildKey(request, ctx),
    lookup: (ctx) => kind.lookup(request, ctx),
    build: (ctx) => kind.build(request, ctx),
  };
}

/** `have`: object ids the client has (its refs' tips); duplicates dropped, order kept. */
export function parseHaves(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_HAVES) {
    throw new FerryError('INVALID_HAVE', `Expected \`have\` to be a list of at most ${MAX_HAVES} object ids (the tips of the client's refs).`);
  }
  const haves = value.map((item: unknown) => (typeof item === 'string' ? item.toLowerCase() : item));
  const bad = haves.find((item) => typeof item !== 'string' || !OID.test(item));
  if (bad !== undefined) {
    throw new FerryError('INVALID_HAVE', `Expected every \`have\` to be a full object id (40 or 64 hex digits), got ${JSON.stringify(bad).slice(0, 60)}.`);
  }
  return [...new Set(haves as string[])];
}

/** `refs`: full branch or tag names (`refs/heads/main`, `refs/tags/v1`), checked with git's rules. */
export function parseBundleRefs(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_REFS) {
    throw new FerryError('INVALID_REF', `Expected \`refs\` to be a list of 1-${MAX_REFS} full ref names such as "refs/heads/main".`);
  }
  for (const ref of value) {
    const problem = typeof ref !== 'string' ? 'it is not a string' : !/^refs\/(heads|tags)\/./.test(ref) ? 'it is not under refs/heads/ or refs/tags/' : refNameProblem(ref);
    if (problem) throw new FerryError('INVALID_REF', `${JSON.stringify(ref).slice(0, 80)} is not a valid entry of \`refs\`: ${problem}.`);
  }
  return [...new Set(value as string[])].sort();
}

export function parseDeviceId(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (!isDeviceId(value)) {
    throw new FerryError('INVALID_DEVICE_ID', `Expected \`deviceId\` to be ${DEVICE_ID_RULE} (the id sent in RG#<deviceId>).`);
  }
  return value;
}

/**
 * Where a job's pushes go. A request over the websocket carries its connection's device in `x-ca-deviceid` (the
 * gateway sets it): the pushes go there, and a body naming another device is refused, so nobody can aim a job's
 * pushes at someone else's connection. Over plain HTTP there is no connection: the body's `deviceId` is taken.
 */
function jobDeviceId(bodyValue: unknown, headerValue: string | null): string | undefined {
  const connection = parseDeviceId(headerValue);
  const named = parseDeviceId(bodyValue);
  if (connection !== undefined && named !== undefined && named !== connection) {
    throw new FerryError('INVALID_DEVICE_ID', `\`deviceId\` "${named}" is not the device of the connection that sent the request ("${connection}"): leave it out, or send it from that device's connection.`);
  }
  return connection ?? named;
}

export function parseJobId(value: string): string {
  if (!JOB_ID.test(value)) throw new FerryError('JOB_NOT_FOUND', 'No job has that id: job ids are 8-64 letters, digits, _ or -.');
  return value;
}
