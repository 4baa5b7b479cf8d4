import type { Config } from '../config.js';
import type { GitContext } from '../git/context.js';
import type { MirrorCache } from '../git/mirror.js';
import type { RepoRef } from '../git/url.js';
import type { ContentKeys } from '../storage/keys.js';
import type { ArtifactFormat } from '../../protocol/formats.js';
import type { Phase, ProgressMessage } from '../../protocol/job.js';

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

export interface ProduceContext {
  config: Config;
  git: GitContext;
  mirrors: MirrorCache;
  signal?: AbortSignal | undefined;
  progress: ProgressFn;
}

export interface ArtifactStream {
  bytes: AsyncIterable<Buffer>;
  done: Promise<void>;
  kill(): void;
  /** Called exactly once, after the bytes are consumed or abandoned: give back what was held (a mirror lease). */
  close(): void;
}

// A kind names its artifact, produces its bytes and says which phases it goes through; cache lookup,
// single-flight, upload, hashing, the manifest and signing are the jobs layer's, shared by every kind.
export interface ArtifactKind {
  readonly name: string;
  /** Between `resolving` and `uploading`; the bytes stream in the last one. */
  readonly phases: readonly Phase[];
  /** Content-addressed: derived from exactly the inputs that change the bytes. */
  keys(request: ArtifactRequest): ArtifactKeys;
  meta(request: ArtifactRequest): ArtifactMeta;
  produce(request: ArtifactRequest, ctx: ProduceContext): Promise<ArtifactStream>;
}
