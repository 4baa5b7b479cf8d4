import { describe, expect, it } from 'vitest';
import type { ApiGatewayEvent } from '../../../src/protocol/apigw-event.js';
import { eventHeader, eventToRequest, isApiGatewayEvent, responseToResult } from '../../../src/worker/runtime/events.js';

/** Every byte value, twice: no text encoding survives it unchanged. */
const BINARY = Buffer.from([...Array.from({ length: 256 }, (_, i) => i), ...Array.from({ length: 256 }, (_, i) => 255 - i)]);

function event(overrides: Partial<ApiGatewayEvent>): ApiGatewayEvent {
  return { path: '/jobs', httpMethod: 'GET', headers: {}, queryParameters: {}, pathParameters: {}, body: '', isBase64Encoded: false, ...overrides };
}

describe('eventToRequest', () => {
  it.each<[string, Partial<ApiGatewayEvent>, { method: string; url: string; body: Buffer | null }]>([
    ['a plain GET', { path: '/healthz' }, { method: 'GET', url: 'http://fc.invalid/healthz', body: null }],
    ['a path without its leading slash', { path: 'jobs/abc' }, { method: 'GET', url: 'http://fc.invalid/jobs/abc', body: null }],
    ['a lower-case method', { httpMethod: 'post', body: '{}' }, { method: 'POST', url: 'http://fc.invalid/jobs', body: Buffer.from('{}') }],
    ['a text body as is', { httpMethod: 'POST', body: '{"url":"https://github.com/a/b"}' }, { method: 'POST', url: 'http://fc.invalid/jobs', body: Buffer.from('{"url":"https://github.com/a/b"}') }],
    ['a base64 body decoded to its bytes', { httpMethod: 'POST', body: BINARY.toString('base64'), isBase64Encoded: true }, { method: 'POST', url: 'http://fc.invalid/jobs', body: BINARY }],
    ['a base64 text body', { httpMethod: 'PUT', body: Buffer.from('{"é":1}').toString('base64'), isBase64Encoded: true }, { method: 'PUT', url: 'http://fc.invalid/jobs', body: Buffer.from('{"é":1}') }],
    ['a body on a GET, dropped', { body: 'ignored' }, { method: 'GET', url: 'http://fc.invalid/jobs', body: null }],
    ['a body on a HEAD, dropped', { httpMethod: 'HEAD', body: 'ignored' }, { method: 'HEAD', url: 'http://fc.invalid/jobs', body: null }],
    ['an empty POST body', { httpMethod: 'POST', body: '' }, { method: 'POST', url: 'http://fc.invalid/jobs', body: null }],
    // Path parameters are the path's own segments: the path, as on the wire, is what the API routes on.
    ['path parameters', { path: '/jobs/V1StGXR8_Z5jdHi6B-myT', pathParameters: { id: 'V1StGXR8_Z5jdHi6B-myT' } }, { method: 'GET', url: 'http://fc.invalid/jobs/V1StGXR8_Z5jdHi6B-myT', body: null }],
    ['an encoded path segment, kept encoded', { path: '/jobs/a%2Fb%20c', pathParameters: { id: 'a/b c' } }, { method: 'GET', url: 'http://fc.invalid/jobs/a%2Fb%20c', body: null }],
  ])('%s', async (_, overrides, expected) => {
    const request = eventToRequest(event(overrides));
    expect(request.method).toBe(expected.method);
    expect(request.url).toBe(expected.url);
    const body = request.body === null ? null : Buffer.from(await request.arrayBuffer());
    expect(body).toEqual(expected.body);
  });

  it.each<[string, Record<string, string>, [string, string][]]>([
    ['one parameter', { format: 'zip' }, [['format', 'zip']]],
    ['several, in order', { a: '1', b: '2' }, [['a', '1'], ['b', '2']]],
    // The event carries decoded values (the first of a repeated key): they are encoded again, exactly once.
    ['values with reserved characters', { q: 'a b&c=d/?#+%' }, [['q', 'a b&c=d/?#+%']]],
    ['non-ASCII names and values', { 'ré': 'ünïcode 字' }, [['ré', 'ünïcode 字']]],
    ['an empty value', { empty: '' }, [['empty', '']]],
  ])('query parameters: %s', (_, queryParameters, expected) => {
    const url = new URL(eventToRequest(event({ queryParameters })).url);
    expect([...url.searchParams]).toEqual(expected);
  });

  it('a repeated query key in the event (one value per key) yields that one value', () => {
    // API Gateway's event keeps the first value of a repeated key; the gateway emulator does the same.
    const url = new URL(eventToRequest(event({ queryParameters: { ref: 'main' } })).url);
    expect(url.searchParams.getAll('ref')).toEqual(['main']);
  });

  it.each<[string, Record<string, string>, Record<string, string>]>([
    ['a header, whatever the case of its name', { 'X-Ca-DeviceId': 'dev-1' }, { 'x-ca-deviceid': 'dev-1' }],
    ['a multi-value header, joined as the gateway sent it', { accept: 'application/json, text/plain' }, { accept: 'application/json, text/plain' }],
    ['a header name fetch refuses, skipped without losing the others', { 'bad name': 'x', 'content-type': 'application/json' }, { 'content-type': 'application/json' }],
    ['a header value fetch refuses, skipped', { 'x-bad': 'line\nbreak', 'x-good': 'ok' }, { 'x-good': 'ok' }],
  ])('headers: %s', (_, headers, expected) => {
    // Exactly these headers: what fetch refuses is skipped, and nothing is added.
    const got: Record<string, string> = {};
    eventToRequest(event({ headers })).headers.forEach((value, name) => (got[name] = value));
    expect(got).toEqual(expected);
  });
});

describe('responseToResult', () => {
  it.each<[string, () => Response, { statusCode: number; isBase64Encoded: boolean; body: Buffer; headers: Record<string, string> }]>([
    [
      'JSON as text',
      () => new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } }),
      { statusCode: 200, isBase64Encoded: false, body: Buffer.from('{"ok":true}'), headers: { 'content-type': 'application/json' } },
    ],
    [
      'non-ASCII text, as UTF-8',
      () => new Response('naïve 字', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } }),
      { statusCode: 404, isBase64Encoded: false, body: Buffer.from('naïve 字'), headers: { 'content-type': 'text/plain; charset=utf-8' } },
    ],
    [
      'a binary body, base64',
      () => new Response(BINARY, { status: 200, headers: { 'content-type': 'application/zip' } }),
      { statusCode: 200, isBase64Encoded: true, body: BINARY, headers: { 'content-type': 'application/zip' } },
    ],
    [
      'an octet stream, base64',
      () => new Response(BINARY.subarray(0, 7), { status: 206, headers: { 'content-type': 'application/octet-stream' } }),
      { statusCode: 206, isBase64Encoded: true, body: BINARY.subarray(0, 7), headers: { 'content-type': 'application/octet-stream' } },
    ],
    ['no body', () => new Response(null, { status: 204 }), { statusCode: 204, isBase64Encoded: false, body: Buffer.alloc(0), headers: {} }],
    [
      'a multi-value header, joined',
      () => {
        const headers = new Headers({ 'content-type': 'application/json' });
        headers.append('vary', 'origin');
        headers.append('vary', 'accept');
        return new Response('{}', { status: 202, headers });
      },
      { statusCode: 202, isBase64Encoded: false, body: Buffer.from('{}'), headers: { 'content-type': 'application/json', vary: 'origin, accept' } },
    ],
  ])('%s', async (_, response, expected) => {
    const result = await responseToResult(response());
    expect(result.statusCode).toBe(expected.statusCode);
    expect(result.isBase64Encoded).toBe(expected.isBase64Encoded);
    expect(result.headers).toEqual(expected.headers);
    expect(Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8')).toEqual(expected.body);
  });
});

describe('round trip: an event in, the same bytes out', () => {
  it.each([
    ['text', 'text/plain', Buffer.from('plain text, ünïcode')],
    ['binary', 'application/zip', BINARY],
  ])('%s', async (_, contentType, bytes) => {
    const request = eventToRequest(event({ httpMethod: 'POST', body: bytes.toString('base64'), isBase64Encoded: true, headers: { 'content-type': contentType } }));
    const echoed = new Response(await request.arrayBuffer(), { headers: { 'content-type': request.headers.get('content-type') ?? '' } });
    const result = await responseToResult(echoed);
    expect(Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8')).toEqual(bytes);
  });
});

describe('isApiGatewayEvent and eventHeader', () => {
  it.each<[string, unknown, boolean]>([
    ['an event', event({}), true],
    ['null', null, false],
    ['a job event', { type: 'job', spec: '{}', signature: 'x' }, false],
    ['a path that is no string', { path: 1, httpMethod: 'GET' }, false],
    ['no method', { path: '/jobs' }, false],
  ])('%s → %s', (_, value, expected) => {
    expect(isApiGatewayEvent(value)).toBe(expected);
  });

  it('finds a header whatever the case of its name in the event', () => {
    const e = event({ headers: { 'X-Ferry-Gateway-Secret': 's3cret' } });
    expect(eventHeader(e, 'x-ferry-gateway-secret')).toBe('s3cret');
    expect(eventHeader(e, 'x-other')).toBeUndefined();
  });
});
