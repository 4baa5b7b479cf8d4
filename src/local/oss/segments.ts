import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** One file of an object's bytes: a PutObject's data file, or one part of a multipart object. */
export interface Segment {
  path: string;
  size: number;
}

/** The bytes `start`–`end` (inclusive) of one file. */
interface Piece {
  path: string;
  start: number;
  end: number;
}

/**
 * Files opened before the response starts, so that one already gone (its record was replaced
 * meanwhile) is noticed before anything is sent. The rest are opened as the stream reaches them: a
 * GET holds at most this many descriptors for its whole response, however many parts it spans (a few
 * slow or paused downloads of a 2 GiB archive, ~280 parts, holding 64 each would exhaust macOS's
 * default of 256). The store defers removing files being read (leases.ts); a file removed anyway
 * before the stream reaches it ends the stream with an error: a cut-off body, never bytes of two
 * objects, as a write never reuses a name.
 */
export const OPEN_AHEAD = 8;

/** Bodies are read 1 MiB at a time, not 64 KiB: measured with curl on a 23 MB object stored as 3 parts, ~65 ms instead of ~110. */
const READ_CHUNK = 1024 * 1024;

/** The part of each segment that overlaps `start`–`end` of their concatenation, in order. */
function piecesOf(segments: readonly Segment[], start: number, end: number): Piece[] {
  const pieces: Piece[] = [];
  let offset = 0;
  for (const segment of segments) {
    const first = Math.max(start, offset);
    const last = Math.min(end, offset + segment.size - 1);
    if (first <= last) pieces.push({ path: segment.path, start: first - offset, end: last - offset });
    offset += segment.size;
    if (offset > end) break;
  }
  return pieces;
}

/**
 * Opens bytes `start`–`end` (inclusive, within the total size) of the segments laid end to end.
 * Resolves `undefined` when a file is missing: the record naming it was replaced meanwhile, and the
 * caller should read the record again.
 */
export async function openSegments(segments: readonly Segment[], start: number, end: number): Promise<Readable | undefined> {
  const pieces = piecesOf(segments, start, end);
  const opened = await Promise.allSettled(pieces.slice(0, OPEN_AHEAD).map((piece) => open(piece.path, 'r')));
  const handles = opened.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
  const failure = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure) {
    await closeAll(handles);
    if ((failure.reason as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw failure.reason;
  }
  const [only] = pieces;
  // A single file (every PutObject, a range within one part) streams straight from its handle.
  if (pieces.length === 1 && only && handles[0]) return handles[0].createReadStream({ start: only.start, end: only.end, autoClose: true, highWaterMark: READ_CHUNK });
  const body = Readable.from(concatenate(pieces, handles), { objectMode: false, highWaterMark: READ_CHUNK });
  // However the stream ends (finished, failed, destroyed before its first read), no handle is left open.
  body.once('close', () => void closeAll(handles));
  return body;
}

/** Streams the pieces one after another, taking each handle out of `handles` as its stream takes it over. */
async function* concatenate(pieces: readonly Piece[], handles: (FileHandle | undefined)[]): AsyncGenerator<Buffer> {
  for (const [index, piece] of pieces.entries()) {
    const handle = handles[index] ?? (await open(piece.path, 'r'));
    handles[index] = undefined;
    // The stream closes the handle at its end, or when destroyed along with this generator.
    yield* handle.createReadStream({ start: piece.start, end: piece.end, autoClose: true, highWaterMark: READ_CHUNK });
  }
}

async function closeAll(handles: (FileHandle | undefined)[]): Promise<void> {
  const held = [...handles];
  handles.fill(undefined);
  await Promise.all(held.map((handle) => handle?.close().catch(() => undefined)));
}
