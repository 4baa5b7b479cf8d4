// The upstream side of a file job: one GET whose body survives dropped connections. A resume asks for the
// rest with `Range` + `If-Range`, so a file that changed in between comes back whole (200) and is refused
// rather than stitched onto the old file's first half.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { FerryError } from '../../protocol/errors.js';
import { filenameFromDisposition } from './_disposition.js';
import { proxyFor } from './_proxy.js';
import { createDestinationGuard, type DestinationGuard } from '../net/destinations.js';
import { ConnectionFailed, StalledError, connectionFailed, getFollowingRedirects, statusFailed, type HopOptions } from './_request.js';

export interface UpstreamOptions {
  /** Throws FerryError HOST_NOT_ALLOWED (403) for a URL the policy refuses; called for the first URL and EVERY redirect hop. */
  checkUrl: (url: URL) => void;
  /** FERRY_MAX_FILE_BYTES: refused from Content-Length before any byte, and while streaming (TOO_LARGE). */
  maxBytes: number;
  /** Sends If-None-Match / If-Modified-Since. */
  conditional?: { etag?: string; lastModified?: string };
  signal?: AbortSignal;
  /** No byte for this long: the connection is dropped and resumed. Default 30 s. */
  idleTimeoutMs?: number;
  onResume?: (info: { bytes: number; attempt: number; reason: string }) => void;
  /**
   * The SSRF guard (net/destinations.ts) every hop goes through, redirects and resumes included; by default one
   * that refuses every internal address (the worker passes its own, with FERRY_ALLOWED_DESTINATIONS).
   */
  destinations?: DestinationGuard;
  /** Where HTTPS_PROXY / HTTP_PROXY / NO_PROXY are read (the embedded stack passes the user's); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface UpstreamFile {
  status: 200 | 304;
  /** The URL after every redirect: what the cache key is derived from. */
  finalUrl: string;
  /** Content-Length of the full entity, when known. */
  size: number | undefined;
  etag: string | undefined;
  lastModified: string | undefined;
  contentType: string | undefined;
  /** From Content-Disposition's filename, else undefined (the caller falls back to FileTarget.filename). */
  filename: string | undefined;
  /** The body; a dropped connection is resumed transparently with Range + If-Range (at most 3 times);
   *  a changed entity (If-Range answered 200) fails with UPSTREAM_CHANGED instead of stitching. Empty for 304. */
  body: AsyncIterable<Buffer>;
  /** Stop reading (releases the socket). */
  cancel(): void;
}

const MAX_RESUMES = 3;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/**
 * The SSRF guard's verdict on `url`'s own host, without connecting: the submit path asks it, so a file on an
 * internal address is refused before a job exists (every hop is checked again when the job fetches).
 */
export async function checkDestination(url: string, options: { destinations: DestinationGuard; env?: NodeJS.ProcessEnv }): Promise<void> {
  const target = toUrl(url);
  await options.destinations.pin(target, { viaProxy: proxyFor(target, options.env ?? process.env) !== undefined }).catch((error: unknown) => {
    // A name that does not resolve now is the job's to report, with its retries; only a refusal is final.
    if (error instanceof FerryError && error.code === 'DESTINATION_FORBIDDEN') throw error;
  });
}

export async function openUpstream(url: string, options: UpstreamOptions): Promise<UpstreamFile> {
  const start = toUrl(url);
  const hops: HopOptions = {
    checkUrl: options.checkUrl,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    signal: options.signal,
    destinations: options.destinations ?? createDestinationGuard(),
    env: options.env,
  };
  // identity: the bytes stored are the file's, and Content-Length / Range count those same bytes.
  const headers: OutgoingHttpHeaders = { 'accept-encoding': 'identity', 'user-agent': 'ferry' };
  const conditional = options.conditional ?? {};
  if (conditional.etag) headers['if-none-match'] = conditional.etag;
  if (conditional.lastModified) headers['if-modified-since'] = conditional.lastModified;

  const { response, url: final } = await getFollowingRedirects(start, headers, hops).catch((error: unknown) => {
    throw failure(start, error, options.signal);
  });
  const finalUrl = final.href;
  const etag = header(response, 'etag');
  const lastModified = header(response, 'last-modified');
  const contentType = header(response, 'content-type');

  if (response.statusCode === 304 && (conditional.etag || conditional.lastModified)) {
    response.resume();
    return {
      status: 304,
      finalUrl,
      size: undefined,
      // A 304 may repeat the validators or not: the ones asked with still hold.
      etag: etag ?? conditional.etag,
      lastModified: lastModified ?? conditional.lastModified,
      contentType,
      filename: undefined,
      body: (async function* () {})(),
      cancel: () => undefined,
    };
  }
  if (response.statusCode !== 200) {
    response.resume();
    throw statusFailed(final.host === start.host ? start.href : `${start.href} (redirected to ${final.host})`, response);
  }
  const size = contentLength(response);
  if (size !== undefined && size > options.maxBytes) {
    response.destroy();
    throw tooLarge(start.href, `is ${size} bytes`, options.maxBytes);
  }

  const reader = new BodyReader(response, { start, final, size, etag, lastModified, hops, options });
  return {
    status: 200,
    finalUrl,
    size,
    etag,
    lastModified,
    contentType,
    filename: filenameFromDisposition(header(response, 'content-disposition')),
    body: reader.read(),
    cancel: () => reader.cancel(),
  };
}

interface Entity {
  start: URL;
  final: URL;
  size: number | undefined;
  etag: string | undefined;
  lastModified: string | undefined;
  hops: HopOptions;
  options: UpstreamOptions;
}

class BodyReader {
  private response!: IncomingMessage;
  // One iterator per response: each new one would add its own listeners to the stream.
  private chunks!: AsyncIterator<Buffer>;
  private cancelled = false;
  private bytes = 0;
  private attempt = 0;
  private total: number | undefined;
  /** Where a resume asks: the final URL, or the first one again once the final one stopped answering. */
  private from: URL;

  constructor(
    first: IncomingMessage,
    private readonly entity: Entity,
  ) {
    this.use(first);
    this.total = entity.size;
    this.from = entity.final;
  }

  private use(response: IncomingMessage): void {
    this.response = response;
    this.chunks = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  cancel(): void {
    this.cancelled = true;
    this.response.destroy();
  }

  async *read(): AsyncGenerator<Buffer> {
    const { options } = this.entity;
    try {
      for (;;) {
        let reason: string;
        try {
          for (;;) {
            const chunk = await this.nextChunk();
            if (chunk === undefined) break;
            this.bytes += chunk.length;
            if (this.bytes > options.maxBytes) throw tooLarge(this.entity.start.href, `sent more than ${options.maxBytes} bytes`, options.maxBytes);
            if (this.total !== undefined && this.bytes > this.total) {
              throw new FerryError('UPSTREAM_UNREACHABLE', `${this.entity.start.href} sent more than the ${this.total} bytes it announced.`);
            }
            yield chunk;
          }
          // Without a length, a clean end is the end: there is nothing to compare it with.
          if (this.total === undefined || this.bytes === this.total) return;
          reason = `the connection ended after ${this.bytes} of ${this.total} bytes`;
        } catch (error) {
          if (this.cancelled) return;
          if (error instanceof FerryError) throw error;
          if (options.signal?.aborted) throw aborted(options.signal);
          // Every announced byte arrived and only the connection's end failed: nothing is missing.
          if (this.total !== undefined && this.bytes === this.total) return;
          reason = connectionFailed(this.from, error).message;
        }
        this.response.destroy();
        const rest = await this.resume(reason);
        if (rest === undefined) return;
        this.use(rest);
        if (this.cancelled) return; // cancel() came while the resume was on its way
      }
    } finally {
      this.response.destroy();
    }
  }

  /** The next chunk, or undefined at the end; a silence of idleTimeoutMs while waiting for it is a stall. */
  private async nextChunk(): Promise<Buffer | undefined> {
    const response = this.response;
    const idleMs = this.entity.hops.idleTimeoutMs;
    // Armed only while waiting on upstream, so a consumer that takes its time with a chunk is not counted.
    const timer = setTimeout(() => response.destroy(new StalledError(idleMs)), idleMs);
    try {
      const step = await this.chunks.next();
      return step.done ? undefined : step.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A response carrying the rest of the same entity from `this.bytes`, trying until MAX_RESUMES attempts are
   * spent; undefined when upstream says nothing is left (416 at exactly the bytes received).
   */
  private async resume(firstReason: string): Promise<IncomingMessage | undefined> {
    const { start, hops, options } = this.entity;
    // If-Range takes a strong ETag only; a weak one (W/"…") cannot promise byte-identical ranges.
    const validator = this.entity.etag && !this.entity.etag.startsWith('W/') ? this.entity.etag : this.entity.lastModified;
    let reason = firstReason;
    for (;;) {
      const attempt = ++this.attempt;
      if (!validator) {
        throw new FerryError(
          'UPSTREAM_UNREACHABLE',
          `${start.href} broke off after ${this.bytes} bytes (${reason}), and it sends neither a strong ETag nor Last-Modified, so the rest cannot be fetched safely. Try again.`,
        );
      }
      if (attempt > MAX_RESUMES) {
        throw new FerryError('UPSTREAM_UNREACHABLE', `${start.href} broke off ${MAX_RESUMES + 1} times; the last at byte ${this.bytes}: ${reason}`);
      }
      options.onResume?.({ bytes: this.bytes, attempt, reason });
      const headers: OutgoingHttpHeaders = { 'accept-encoding': 'identity', 'user-agent': 'ferry', range: `bytes=${this.bytes}-`, 'if-range': validator };
      let response: IncomingMessage;
      try {
        ({ response, url: this.from } = await getFollowingRedirects(this.from, headers, hops));
      } catch (error) {
        if (options.signal?.aborted) throw aborted(options.signal);
        if (!(error instanceof ConnectionFailed)) throw error;
        reason = error.message;
        continue;
      }
      const status = response.statusCode ?? 0;
      if (status === 206) return this.checkRange(response);
      response.destroy();
      if (status === 200) throw changed(start.href, 'it answered the resume with the whole file again');
      if (status === 416 && header(response, 'content-range') === `bytes */${this.bytes}`) return undefined;
      if (status >= 500) {
        reason = `${this.from.host} answered ${status}`;
        continue;
      }
      // A release asset's signed URL expires within minutes: ask the URL it came from for a fresh one.
      if (status >= 400 && status < 500 && this.from.href !== start.href) {
        reason = `${this.from.host} answered ${status} (an expired signed URL?)`;
        this.from = start;
        continue;
      }
      throw statusFailed(start.href, response);
    }
  }

  /** A 206 must continue exactly at `this.bytes`, of an entity of the same size and ETag. */
  private checkRange(response: IncomingMessage): IncomingMessage {
    const { start, options } = this.entity;
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header(response, 'content-range') ?? '');
    const whole = range?.[2] === undefined || range[2] === '*' ? undefined : Number(range[2]);
    const etag = header(response, 'etag');
    const fail = (why: string): never => {
      response.destroy();
      throw changed(start.href, why);
    };
    if (!range || Number(range[1]) !== this.bytes) fail(`it resumed at the wrong place (${header(response, 'content-range') ?? 'no Content-Range'}, expected byte ${this.bytes})`);
    if (whole !== undefined && this.total !== undefined && whole !== this.total) fail(`it is now ${whole} bytes, not ${this.total}`);
    if (etag && this.entity.etag && etag !== this.entity.etag) fail(`its ETag is now ${etag}, not ${this.entity.etag}`);
    if (whole !== undefined && whole > options.maxBytes) {
      response.destroy();
      throw tooLarge(start.href, `is ${whole} bytes`, options.maxBytes);
    }
    this.total ??= whole;
    return response;
  }
}

function toUrl(url: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    throw new FerryError('INVALID_URL', `"${url}" is not a URL.`, { cause: error });
  }
}

function failure(url: URL, error: unknown, signal: AbortSignal | undefined): FerryError {
  if (signal?.aborted) return aborted(signal);
  return connectionFailed(url, error);
}

function aborted(signal: AbortSignal): FerryError {
  const reason: unknown = signal.reason;
  return reason instanceof FerryError ? reason : new FerryError('TIMEOUT', 'The upstream fetch was stopped before it finished.', { cause: reason });
}

function changed(url: string, why: string): FerryError {
  return new FerryError('UPSTREAM_CHANGED', `${url} changed while ferry was fetching it (${why}); the two halves were not joined. Fetch it again.`);
}

function tooLarge(url: string, what: string, maxBytes: number): FerryError {
  return new FerryError('TOO_LARGE', `${url} ${what}, more than the ${maxBytes} bytes this ferry fetches (FERRY_MAX_FILE_BYTES).`);
}

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(response: IncomingMessage): number | undefined {
  const value = header(response, 'content-length');
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}
