import type { Config } from '../config.js';
import type { GitContext } from '../git/context.js';
import type { MirrorCache } from '../git/mirror.js';
import type { RefsCache } from '../git/refs-cache.js';
import type { RepoRef } from '../git/url.js';
import type { ObjectStore } from '../storage/oss-store.js';
import type { ContentKeys } from '../storage/keys.js';
import type { ArtifactFormat } from '../../protocol/formats.js';
import type { FileTarget } from '../../protocol/file-url.js';
import type { DoneResult, Phase, ProgressMessage } from '../../protocol/job.js';
import type { RefSpec, ResolvedRef } from '../../protocol/refs.js';

export interface ArtifactRequest {
  repo: RepoRef;
  ref: string;
  commit: string;
  format: ArtifactFormat;
  /** Bundles only: the refs to include; absent means every branch and tag. */
  refs?: string[] | undefined;
  /** Bundles only: commits the client has. */
  have?: string[] | undefined;
}

export type ArtifactKeys = ContentKeys;

export interface ArtifactMeta {
  filename: string;
  contentType: string;
}

/** Progress without the envelope (`v`, `type`, `jobId`, `ts`), which the reporter adds. */
export type ProgressDetail = Omit<ProgressMessage, 'v' | 'type' | 'jobId' | 'ts' | 'phase'>;
export type ProgressFn = (phase: Phase, detail?: ProgressDetail) => void;

/** What every kind may read: the API's submit path has these too (no progress, no job). */
export interface LookupContext {
  config: Config;
  git: GitContext;
  store: ObjectStore;
  refs: RefsCache;
}

export interface BuildContext extends LookupContext {
  mirrors: MirrorCache;
  signal?: AbortSignal | undefined;
  progress: ProgressFn;
}

export type ProduceContext = BuildContext;

export interface ArtifactStream {
  bytes: AsyncIterable<Buffer>;
  done: Promise<void>;
  kill(): void;
  /** Called exactly once, after the bytes are consumed or abandoned: give back what was held (a mirror lease). */
  close(): void;
}

/** What the jobs layer runs of every kind, whatever names its input: single-flight, cache lookups, builds. */
export interface KindCore<Request> {
  readonly name: string;
  /** Between `resolving` and `uploading`; the bytes stream in the last one. */
  readonly phases: readonly Phase[];
  /** Requests with the same key need the same build: one runs, the others wait for it and then look up. */
  buildKey(request: Request, ctx: LookupContext): Promise<string>;
  lookup(request: Request, ctx: LookupContext): Promise<DoneResult | undefined>;
  build(request: Request, ctx: BuildContext): Promise<DoneResult>;
}

// A kind resolves what the user named, answers from the cache when it can, and builds otherwise; the
// jobs layer around it owns queueing, single-flight, progress delivery and the job's record.
export interface ArtifactKind extends KindCore<ArtifactRequest> {
  /** A repository (archive, bundle); absent means the same. */
  readonly input?: 'repository';
  /** The ref and commit a job records (bundles: HEAD's), checked before any job exists. */
  resolve(repo: RepoRef, spec: RefSpec, ctx: LookupContext): Promise<ResolvedRef>;
}

/** What a `file` job names: a file URL, parsed and checked against the host policy. */
export interface FileRequest {
  target: FileTarget;
  /** The tag or branch the URL names, else ''. */
  ref: string;
  /** The full commit id the URL names, else ''. */
  commit: string;
  /** When the job was asked for: a copy upstream confirmed since then is fresh enough for it. */
  requestedAt: number;
  /**
   * Ask upstream (a conditional request) whether a cached copy of a mutable file is still current: the
   * submit path does, so a hit needs no job. A job's own lookups do not; its build asks instead.
   */
  revalidate: boolean;
}

/** The kind whose input is a file URL rather than a repository (kind `file`). */
export interface FileKind extends KindCore<FileRequest> {
  readonly input: 'file';
  /** The URL checked: its shape (file-url.ts), scheme and host. At submit, and again for a job event. */
  target(url: unknown, config: Config): FileTarget;
}

export type AnyArtifactKind = ArtifactKind | FileKind;

/** A kind whose artifact is one object with a manifest beside it (archives): build.ts does the rest. */
export interface SingleObjectKind {
  readonly name: string;
  readonly phases: readonly Phase[];
  resolve(repo: RepoRef, spec: RefSpec, ctx: LookupContext): Promise<ResolvedRef>;
  /** Content-addressed: derived from exactly the inputs that change the bytes. */
  keys(request: ArtifactRequest): ArtifactKeys;
  meta(request: ArtifactRequest): ArtifactMeta;
  produce(request: ArtifactRequest, ctx: ProduceContext): Promise<ArtifactStream>;
}
