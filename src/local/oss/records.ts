import { createHash } from 'node:crypto';
import type { ObjectMeta, ObjectPart } from './types.js';

/*
 * The names the store gives files, and the check every object record passes before it is used. A
 * record's names are opened, and removed recursively on overwrite and delete, so a record that does
 * not look exactly as the store writes it (edited by hand: `"file": ""` would be the bucket folder,
 * `"../x"` a folder outside it) is treated as corrupt and never acted on.
 */

/** What an object's record and files are named after: keys never become paths (see store.ts). */
export const fileId = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/** `randomName()` (disk.ts): 8 random bytes in hex, in every name written. */
const RANDOM = '[0-9a-f]{16}';

/** An object's record: `<fileId>.json`. */
export const RECORD_NAME = /^([0-9a-f]{64})\.json$/;
/** An object's bytes: `<fileId>.<rand>.bin`, or the folder of a multipart object's parts `<fileId>.<rand>.parts`. */
export const DATA_NAME = new RegExp(`^([0-9a-f]{64})\\.${RANDOM}\\.(bin|parts)$`);
/** A record being replaced (writeRecord's temp file): `<fileId>.json.<rand>.tmp`. */
export const RECORD_TEMP_NAME = new RegExp(`^([0-9a-f]{64})\\.json\\.${RANDOM}\\.tmp$`);

/** An uploaded part's data file: `<partNumber>.<rand>.bin`. */
export function isPartFile(name: unknown, partNumber?: number): name is string {
  const match = typeof name === 'string' ? new RegExp(`^(\\d{1,5})\\.${RANDOM}\\.bin$`).exec(name) : null;
  return match !== null && (partNumber === undefined || match[1] === String(partNumber));
}

export const isSize = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

const isStringMap = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === 'string');

function partsOf(value: unknown): ObjectPart[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const parts = value.map((part: Partial<ObjectPart> | null) => (part && isPartFile(part.file) && isSize(part.size) ? { file: part.file, size: part.size } : undefined));
  return parts.every((part) => part !== undefined) ? parts : undefined;
}

/** `value` as an object record if it has exactly the shape the store writes for its key, else `undefined`. */
export function objectRecord(value: unknown): ObjectMeta | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const meta = value as Partial<ObjectMeta>;
  if (typeof meta.key !== 'string' || typeof meta.file !== 'string' || !isSize(meta.size)) return undefined;
  if (typeof meta.etag !== 'string' || typeof meta.lastModified !== 'string' || !isStringMap(meta.headers)) return undefined;
  const name = DATA_NAME.exec(meta.file);
  if (!name || name[1] !== fileId(meta.key)) return undefined;
  const base = { key: meta.key, file: meta.file, size: meta.size, etag: meta.etag, lastModified: meta.lastModified, headers: meta.headers };
  if (name[2] === 'bin') return meta.parts === undefined && meta.type === 'Normal' ? { ...base, type: 'Normal' } : undefined;
  const parts = partsOf(meta.parts);
  if (!parts || meta.type !== 'Multipart' || parts.reduce((sum, part) => sum + part.size, 0) !== meta.size) return undefined;
  return { ...base, type: 'Multipart', parts };
}
