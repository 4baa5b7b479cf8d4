import type { Config } from '../config.js';
import type { GitContext } from '../git/context.js';
import type { MirrorCache } from '../git/mirror.js';
import type { RepoRef } from '../git/url.js';
import type { ContentKeys } from '../storage/keys.js';
import type { ArchiveFormat } from '../../protocol/formats.js';
import type { Phase, ProgressMessage } from '../../protocol/job.js';

/** What a job asks of a kind: validated and resolved before the build starts. */
export interface ArtifactRequest {
  repo: RepoRef;
  /** The ref as the user named it (or the default branch's name). */
  ref: string;
  commit: string;
  format: ArchiveFormat;
}

/** Where an artifact lives in the bucket: its bytes, and the manifest that marks them complete. */
export type ArtifactKeys = ContentKeys;

/** What a download is called and served as. */
export interface ArtifactMeta {
  filename: string;
  contentType: string;
}

/** Progress without the envelope (`v`, `type`, `jobId`, `ts`), which the reporter adds. */
export type ProgressDetail = Omit<ProgressMessage, 'v' | 'type' | 'jobId' | 'ts' | 'phase'>;
export type ProgressFn = (phase: Phase, detail?: ProgressDetail) => void;

export interface ProduceContext {
  config: Config;
  git: GitContext;
  mirrors: MirrorCache;
  signal?: AbortSignal | undefined;
  progress: ProgressFn;
}

/** A producer's output, read once by the shared upload path. */
export interface ArtifactStream {
  bytes: AsyncIterable<Buffer>;
  /** Settles when the producer has exited; rejects with a FerryError when it failed. */
  done: Promise<void>;
  /** Stop producing now (abort, size limit, failed upload). */
  kill(): void;
  /** Called exactly once, after the bytes are consumed or abandoned: give back what was held (a mirror lease). */
  close(): void;
}

/**
 * One kind of artifact (archive today; bundles and upstream files next). A kind names its artifact,
 * produces its bytes and says which phases it goes through; cache lookup, single-flight, upload,
 * hashing, the manifest and signing are the jobs layer's, shared by every kind.
 */
export interface ArtifactKind {
  readonly name: string;
  /**
   * The kind's own phases, in order, between `resolving` and `uploading`. The last is the one its
   * bytes stream in: the shared path reports the byte count under it.
   */
  readonly phases: readonly Phase[];
  /** Content-addressed: derived from exactly the inputs that change the bytes. */
  keys(request: ArtifactRequest): ArtifactKeys;
  meta(request: ArtifactRequest): ArtifactMeta;
  /** Prepare (reporting its own phases through `ctx.progress`) and start streaming. */
  produce(request: ArtifactRequest, ctx: ProduceContext): Promise<ArtifactStream>;
}
