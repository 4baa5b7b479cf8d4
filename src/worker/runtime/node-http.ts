import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { BodyTooLargeError, readBody } from '../../util/body.js';
import { FerryError } from '../../protocol/errors.js';

/** node:http ↔ web Request/Response, the only place those two worlds meet. */
export function toRequest(req: IncomingMessage, path?: string): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  const method = req.method ?? 'GET';
  const body = method === 'GET' || method === 'HEAD' ? undefined : (Readable.toWeb(req) as ReadableStream<Uint8Array>);
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (path !== undefined) url.pathname = path;
  return new Request(url, {
    method,
    headers,
    body,
    duplex: 'half',
  } as RequestInit);
}

export async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
  res.end();
}

export async function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  try {
    return await readBody(req, limit);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new FerryError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`);
    throw error;
  }
}
