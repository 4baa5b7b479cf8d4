import { FerryError, toFerryError } from '../../protocol/errors.js';
import { findDuplicateKey } from '../../util/json-duplicate-keys.js';

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/** Every error leaves as `{code, message}` with the code's status (and Retry-After when it has one); internals stay in the logs. */
export function problem(error: unknown): Response {
  const failure = toFerryError(error);
  const headers: Record<string, string> = failure.retryAfter === undefined ? {} : { 'retry-after': String(failure.retryAfter) };
  return json(failure.toJSON(), failure.status, headers);
}

// Room for a bundle job's 1000 haves of 64 hex digits (~67 KB) and its refs; small enough to parse at once.
const MAX_BODY_BYTES = 128 * 1024;

export async function readJson(request: Request): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const text = await readText(request);
  if (text.trim() === '') throw new FerryError('INVALID_JSON', 'The request body is empty: send a JSON object such as {"url":"https://github.com/owner/repo"}.');
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    throw new FerryError('INVALID_JSON', 'The request body is not valid JSON: send a JSON object such as {"url":"https://github.com/owner/repo"}.');
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    throw new FerryError('INVALID_JSON', `The request body names ${JSON.stringify(duplicate.key).slice(0, 60)} twice (in ${duplicate.path.slice(0, 100)}): send each field once.`);
  }
  return body;
}

// A chunked body declares no length. On excess the reader is released, not cancelled: cancelling would
// destroy the connection before the 413 goes out.
async function readText(request: Request): Promise<string> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      reader.releaseLock();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(): FerryError {
  return new FerryError('PAYLOAD_TOO_LARGE', `The request body is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
}
