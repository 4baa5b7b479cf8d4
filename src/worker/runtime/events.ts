import type { ApiGatewayEvent, ApiGatewayResult } from '../../protocol/apigw-event.js';

export function isApiGatewayEvent(value: unknown): value is ApiGatewayEvent {
  const event = value as Partial<ApiGatewayEvent> | null;
  return typeof event === 'object' && event !== null && typeof event.path === 'string' && typeof event.httpMethod === 'string';
}

export function eventHeader(event: ApiGatewayEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name) return String(value);
  return undefined;
}

export function eventToRequest(event: ApiGatewayEvent): Request {
  const url = new URL(event.path.startsWith('/') ? event.path : `/${event.path}`, 'http://fc.invalid');
  for (const [key, value] of Object.entries(event.queryParameters ?? {})) url.searchParams.set(key, String(value));
  const headers = new Headers();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    try {
      headers.set(key, String(value));
    } catch {
      // A header name the gateway let through but fetch refuses; it carries nothing the API reads.
    }
  }
  const method = event.httpMethod.toUpperCase();
  const hasBody = method !== 'GET' && method !== 'HEAD' && typeof event.body === 'string' && event.body !== '';
  return new Request(url, {
    method,
    headers,
    body: hasBody ? (event.isBase64Encoded ? Buffer.from(event.body, 'base64') : event.body) : undefined,
  });
}

export async function responseToResult(response: Response): Promise<ApiGatewayResult> {
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  const text = /^(application\/json|text\/)/.test(headers['content-type'] ?? 'text/plain');
  return {
    isBase64Encoded: !text,
    statusCode: response.status,
    headers,
    body: text ? body.toString('utf8') : body.toString('base64'),
  };
}
