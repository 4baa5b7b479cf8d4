import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { keepOnly, readRecord, removeTreeQuietly } from './disk.js';
import { DATA_NAME, RECORD_NAME, RECORD_TEMP_NAME, fileId, objectRecord } from './records.js';
import type { ObjectMeta } from './types.js';
import type { UploadStore } from './upload-store.js';

/**
 * Run at start, while nothing is written (one server per data dir): clears what a crash between two
 * steps of a write leaves in a bucket folder. Writes put their bytes at a fresh name, then commit by
 * replacing the record, then drop what the record no longer needs; so after a crash:
 * - a parts folder no record names that still holds upload.json was being completed when the record
 *   could not be written: it goes back to `.uploads/`, and the upload can be completed again;
 * - other bytes no record names (never committed, or an overwrite's or delete's previous bytes) and
 *   record temp files are removed;
 * - a parts folder its record names but not yet trimmed keeps only the parts the record lists.
 * Only names the store writes are touched, and none that belongs to a record that fails its check
 * (records.ts): what a corrupt record means is for a person to decide.
 */
export async function sweepBucket(dir: string, uploads: UploadStore): Promise<void> {
  const names = await readdir(dir);
  // Per file id, its record; null when the record is there but cannot be trusted.
  const records = new Map<string, ObjectMeta | null>();
  for (const name of names) {
    const id = RECORD_NAME.exec(name)?.[1];
    if (id === undefined) continue;
    const meta = objectRecord(await readRecord(join(dir, name)));
    records.set(id, meta && fileId(meta.key) === id ? meta : null);
  }
  for (const name of names) {
    const id = (DATA_NAME.exec(name) ?? RECORD_TEMP_NAME.exec(name))?.[1];
    const meta = id === undefined ? null : records.get(id);
    if (meta === null) continue;
    const path = join(dir, name);
    if (meta?.file === name) {
      if (meta.parts) await keepOnly(path, meta.parts.map((part) => part.file));
    } else if (!(name.endsWith('.parts') && (await uploads.reopen(path)))) {
      await removeTreeQuietly(path);
    }
  }
}
