import type { Readable } from 'node:stream';

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';

  constructor(readonly limit: number) {
    super(`the body is larger than ${limit} bytes`);
  }
}

// Past the limit the stream is paused, not destroyed: destroying a request destroys its socket,
// and the caller still wants to answer it.
export function readBody(stream: Readable, limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        stream.pause();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    // A stream destroyed without an error (a runtime killed mid-answer) ends with 'close' alone.
    stream.once('close', () => reject(new Error('the stream closed before its end')));
  });
}
