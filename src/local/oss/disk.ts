import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OssError } from './errors.js';

/*
 * Every write follows one pattern: stream the body into `.tmp/`, move it next to its final place under
 * a fresh name, then atomically replace the small JSON record that names it. Readers go through the
 * record, so they see the old bytes or the new ones, never a half-written file.
 */

export function randomName(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}

export interface ReceivedBody {
  path: string;
  size: number;
  md5: Buffer;
  sha256: string | undefined;
}

export interface ReceiveOptions {
  tmpDir: string;
  maxBytes: number;
  /** Compute sha256 too (when the client claimed one in x-oss-content-sha256). */
  sha256?: boolean;
}

/** Streams a request body to a temp file, hashing on the way; never holds more than a chunk. */
export async function receiveBody(body: Readable, options: ReceiveOptions): Promise<ReceivedBody> {
  const path = join(options.tmpDir, `${randomName()}.part`);
  const md5 = createHash('md5');
  const sha256 = options.sha256 ? createHash('sha256') : undefined;
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > options.maxBytes) {
        done(new OssError(400, 'EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${options.maxBytes} bytes.`));
        return;
      }
      md5.update(chunk);
      sha256?.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, hasher, createWriteStream(path, { flags: 'wx' }));
  } catch (error) {
    await removeQuietly(path);
    throw error;
  }
  return { path, size, md5: md5.digest(), sha256: sha256?.digest('hex') };
}

export async function removeQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

/** Removes a file or a whole folder (a multipart object's parts), ignoring failures like `removeQuietly`. */
export async function removeTreeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => undefined);
}

/** Removes everything in `folder` but the entries named in `keep`, ignoring failures like `removeQuietly`. */
export async function keepOnly(folder: string, keep: readonly string[]): Promise<void> {
  const kept = new Set(keep);
  const names = await readdir(folder).catch(() => [] as string[]);
  await Promise.all(names.filter((name) => !kept.has(name)).map((name) => removeTreeQuietly(join(folder, name))));
}

/**
 * Reads a JSON record; `undefined` when it does not exist, or is not a file of valid JSON (e.g. edited
 * by hand). The caller still checks its shape (records.ts) before acting on it.
 */
export async function readRecord(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Replaces a JSON record atomically (temp file + rename in the same folder). */
export async function writeRecord(path: string, record: unknown): Promise<void> {
  const tmp = `${path}.${randomName()}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2));
  try {
    await rename(tmp, path);
  } catch (error) {
    await removeQuietly(tmp);
    throw error;
  }
}
