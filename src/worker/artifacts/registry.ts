import { FerryError } from '../../protocol/errors.js';
import { archive } from './archive.js';
import { bundle } from './bundle.js';
import { file } from './file.js';
import type { AnyArtifactKind } from './types.js';

/** Every kind this worker builds; a new kind is one more entry here and its own file beside this one. */
const KINDS: readonly AnyArtifactKind[] = [archive, bundle, file];

export const DEFAULT_KIND = 'archive';

export const ARTIFACT_KINDS: readonly string[] = KINDS.map((kind) => kind.name);

/** The kind named `name` (absent: the archive, as in job records and events from before kinds). */
export function artifactKind(name: string | undefined = DEFAULT_KIND): AnyArtifactKind {
  const kind = KINDS.find((candidate) => candidate.name === name);
  if (!kind) {
    throw new FerryError('BAD_REQUEST', `Expected \`kind\` to be one of ${ARTIFACT_KINDS.join(', ')}, got ${JSON.stringify(name).slice(0, 40)}.`);
  }
  return kind;
}
