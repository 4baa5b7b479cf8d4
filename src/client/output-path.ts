// Where `ferry get` saves, checked before anything is submitted, so that a wrong -o fails in a second
// rather than after the job and the download: a directory means "save into it"; a missing directory is
// not created behind the user's back (as curl -o does not); an unwritable place is found now.
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../protocol/errors.js';

export interface OutputPlan {
  /** The directory the file goes into. */
  dir: string;
  /** The exact path, when -o named a file; otherwise the server's file name in `dir`. */
  file: string | undefined;
}

/** Resolves `-o` against `cwd`; throws OUTPUT_UNUSABLE with what to change. */
export async function planOutput(output: string | undefined, cwd: string): Promise<OutputPlan> {
  if (output === undefined) return { dir: await writableDir(cwd, 'the current directory'), file: undefined };
  const path = resolve(cwd, output);
  const found = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw unusable(`cannot use ${output}: ${error.message}`);
  });
  if (found?.isDirectory()) return { dir: await writableDir(path, output), file: undefined };
  if (found && !found.isFile()) throw unusable(`${output} is neither a file nor a directory`);
  if (!found && /[/\\]$/.test(output)) throw unusable(`the directory ${output} does not exist: create it first`);
  const dir = dirname(path);
  const parent = await stat(dir).catch(() => undefined);
  if (!parent?.isDirectory()) throw unusable(`the directory ${dirname(output)} does not exist: create it first, or choose another -o`);
  await writableDir(dir, dirname(output));
  if (found) {
    await access(path, constants.W_OK).catch(() => {
      throw unusable(`${output} exists and cannot be written`);
    });
  }
  return { dir, file: path };
}

export function outputPath(plan: OutputPlan, name: string): string {
  return plan.file ?? join(plan.dir, name);
}

/**
 * A file already at the destination: the same bytes (same sha256) make the download unnecessary; other
 * bytes are replaced only with `force`.
 */
export async function existingOutput(path: string, sha256: string, force: boolean): Promise<'none' | 'identical' | 'replace'> {
  const found = await stat(path).catch(() => undefined);
  if (!found) return 'none';
  if (!found.isFile()) throw new FerryError('OUTPUT_EXISTS', `${path} exists and is not a file: choose another -o.`);
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  if (hash.digest('hex') === sha256.toLowerCase()) return 'identical';
  if (force) return 'replace';
  throw new FerryError('OUTPUT_EXISTS', `${path} already exists with other content: run again with --force to replace it, or choose another name with -o.`);
}

async function writableDir(dir: string, label: string): Promise<string> {
  await access(dir, constants.W_OK | constants.X_OK).catch(() => {
    throw unusable(`cannot write to ${label}: choose another -o`);
  });
  return dir;
}

function unusable(message: string): FerryError {
  return new FerryError('OUTPUT_UNUSABLE', `${message}.`);
}
