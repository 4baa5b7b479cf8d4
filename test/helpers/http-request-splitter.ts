// Finds where each HTTP/1.1 request begins in a client's byte stream, so the fault proxy can treat
// requests on a kept-alive connection one by one. It only frames requests (head, then a body of
// Content-Length bytes or chunked); it neither validates nor changes a byte.

/** The parts of a request head a fault rule may choose by. */
export interface RequestHead {
  method: string;
  /** The request target as sent, e.g. `/owner/repo.git/git-upload-pack` or `/bucket/key?partNumber=3`. */
  path: string;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
}

export type Segment = { kind: 'head'; head: RequestHead; data: Buffer } | { kind: 'body'; data: Buffer };

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer';

// A head larger than this is not HTTP the proxy understands: it is passed on as body bytes.
const MAX_HEAD = 64 * 1024;

export class RequestSplitter {
  #state: State = 'head';
  #head: Buffer[] = [];
  #headBytes = 0;
  #remaining = 0;
  #line = '';

  /** Splits `chunk` into segments; a head is only emitted once complete (it may span chunks). */
  push(chunk: Buffer): Segment[] {
    const out: Segment[] = [];
    let offset = 0;
    const body = (end: number): void => {
      if (end > offset) out.push({ kind: 'body', data: chunk.subarray(offset, end) });
      offset = end;
    };
    while (offset < chunk.length) {
      switch (this.#state) {
        case 'head': {
          const data = chunk.subarray(offset);
          this.#head.push(data);
          this.#headBytes += data.length;
          const joined = Buffer.concat(this.#head);
          const end = joined.indexOf('\r\n\r\n');
          if (end === -1) {
            if (this.#headBytes > MAX_HEAD) {
              this.#head = [];
              this.#headBytes = 0;
              out.push({ kind: 'body', data: joined });
            }
            return out;
          }
          const headBytes = joined.subarray(0, end + 4);
          // What followed the head in this chunk is read again in the body's state.
          offset = chunk.length - (joined.length - headBytes.length);
          this.#head = [];
          this.#headBytes = 0;
          const head = parseHead(headBytes);
          out.push({ kind: 'head', head, data: headBytes });
          this.#startBody(head);
          break;
        }
        case 'length': {
          const end = Math.min(chunk.length, offset + this.#remaining);
          this.#remaining -= end - offset;
          body(end);
          if (this.#remaining === 0) this.#state = 'head';
          break;
        }
        case 'chunk-data': {
          const end = Math.min(chunk.length, offset + this.#remaining);
          this.#remaining -= end - offset;
          body(end);
          if (this.#remaining === 0) {
            this.#state = 'chunk-crlf';
            this.#remaining = 2;
          }
          break;
        }
        case 'chunk-crlf': {
          const end = Math.min(chunk.length, offset + this.#remaining);
          this.#remaining -= end - offset;
          body(end);
          if (this.#remaining === 0) this.#state = 'chunk-size';
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const newline = chunk.indexOf(0x0a, offset);
          const end = newline === -1 ? chunk.length : newline + 1;
          this.#line += chunk.subarray(offset, end).toString('latin1');
          body(end);
          if (newline === -1) break;
          const line = this.#line.trim();
          this.#line = '';
          if (this.#state === 'trailer') {
            if (line === '') this.#state = 'head';
          } else {
            const size = Number.parseInt(line.split(';')[0] ?? '', 16);
            if (!Number.isFinite(size) || size === 0) this.#state = 'trailer';
            else {
              this.#state = 'chunk-data';
              this.#remaining = size;
            }
          }
          break;
        }
      }
    }
    return out;
  }

  #startBody(head: RequestHead): void {
    if (/\bchunked\b/i.test(head.headers['transfer-encoding'] ?? '')) {
      this.#state = 'chunk-size';
      return;
    }
    const length = Number(head.headers['content-length'] ?? 0);
    if (Number.isSafeInteger(length) && length > 0) {
      this.#state = 'length';
      this.#remaining = length;
    }
  }
}

function parseHead(bytes: Buffer): RequestHead {
  const [requestLine = '', ...lines] = bytes.toString('latin1').split('\r\n');
  const [method = '', path = ''] = requestLine.split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, path, headers };
}
