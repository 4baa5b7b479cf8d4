import type { Config } from '../config.js';
import type { ObjectStore } from '../storage/oss-store.js';
import type { DoneResult } from '../../protocol/job.js';
import { signObject, storeStream } from './stored.js';
import type { ArtifactKind, ArtifactRequest, BuildContext, SingleObjectKind } from './types.js';

/** What the cache keeps beside each artifact; written last, so its presence means the artifact is whole. */
export interface ArtifactManifest extends Pick<ArtifactRequest, 'commit' | 'format'> {
  v: 1;
  /** Absent in manifests written before kinds: those are archives. */
  kind?: string;
  repo: string;
  filename: string;
  size: number;
  sha256: string;
  createdAt: number;
}

export async function lookupCached(kind: SingleObjectKind, store: ObjectStore, request: ArtifactRequest, config: Config): Promise<DoneResult | undefined> {
  const keys = kind.keys(request);
  const text = await store.getText(keys.manifest);
  if (text === undefined) return undefined;
  const manifest = JSON.parse(text) as ArtifactManifest;
  return sign(store, keys.object, manifest, request, true, config);
}

// produce → hash, limit and upload → manifest → sign.
export async function buildArtifact(kind: SingleObjectKind, request: ArtifactRequest, ctx: BuildContext): Promise<DoneResult> {
  const { config, store } = ctx;
  const keys = kind.keys(request);
  const { filename, contentType } = kind.meta(request);
  const streamPhase = kind.phases.at(-1) ?? 'uploading';
  const artifact = await kind.produce(request, ctx);
  const { size, sha256 } = await storeStream(artifact, { key: keys.object, filename, contentType, label: kind.name, streamPhase }, ctx);
  const { repo, commit, format } = request;
  const manifest: ArtifactManifest = { v: 1, kind: kind.name, repo: repo.canonical, commit, format, filename, size, sha256, createdAt: Date.now() };
  await store.put(keys.manifest, Buffer.from(JSON.stringify(manifest)), { 'Content-Type': 'application/json' });
  ctx.progress('signing');
  return sign(store, keys.object, manifest, request, false, config);
}

/** The ArtifactKind of a one-object kind: its object key is its build key. */
export function singleObject(kind: SingleObjectKind): ArtifactKind {
  return {
    name: kind.name,
    phases: kind.phases,
    resolve: (repo, spec, ctx) => kind.resolve(repo, spec, ctx),
    buildKey: async (request) => kind.keys(request).object,
    lookup: (request, ctx) => lookupCached(kind, ctx.store, request, ctx.config),
    build: (request, ctx) => buildArtifact(kind, request, ctx),
  };
}

async function sign(store: ObjectStore, key: string, manifest: ArtifactManifest, request: ArtifactRequest, cached: boolean, config: Config): Promise<DoneResult> {
  const { ref } = request;
  return {
    ...(await signObject(store, key, manifest.filename, config, request.repo.access)),
    filename: manifest.filename,
    size: manifest.size,
    sha256: manifest.sha256,
    commit: manifest.commit,
    ref,
    format: manifest.format,
    cached,
  };
}
