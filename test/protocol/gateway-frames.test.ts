// The API-call frames, as both clients encode and decode them (src/protocol/gateway-frames.ts).
import { describe, expect, it } from 'vitest';
import { signRequest } from '../../src/protocol/apigw-signature.js';
import { decodeAnswer, encodeRequest } from '../../src/protocol/gateway-frames.js';

describe('gateway frames', () => {
  it('encodes an unsigned call with one-element header arrays and its x-ca-seq', () => {
    const frame = JSON.parse(encodeRequest({ method: 'GET', path: '/jobs/a', query: { x: '1' } }, '7', 'gw.example', undefined)) as Record<string, unknown>;
    expect(frame).toEqual({
      method: 'GET',
      host: 'gw.example',
      path: '/jobs/a',
      querys: { x: '1' },
      headers: { accept: ['application/json'], 'x-ca-seq': ['7'] },
      isBase64: 0,
      body: '',
    });
  });

  it('signs with the injected signer, x-ca-seq among the signed headers', () => {
    const creds = { appKey: 'k', appSecret: 's' };
    const opts = { now: 1_700_000_000_000, nonce: 'n-1' };
    const sign = (req: Parameters<typeof signRequest>[0]) => signRequest(req, creds, opts);
    const frame = JSON.parse(encodeRequest({ method: 'POST', path: '/jobs', body: '{}', headers: { 'content-type': 'application/json' } }, '3', 'gw', sign)) as { headers: Record<string, string[]> };
    const expected = signRequest({ method: 'POST', path: '/jobs', query: {}, headers: { 'content-type': 'application/json', 'x-ca-seq': '3' }, body: '{}' }, creds, opts);
    expect(frame.headers['x-ca-signature']).toEqual([expected['x-ca-signature']]);
    expect(frame.headers['x-ca-signature-headers']?.[0]).toContain('x-ca-seq');
  });

  it('decodes an answer: lower-case headers, the seq, a base64 body as UTF-8', () => {
    const body = Buffer.from('héllo ✓', 'utf8').toString('base64');
    expect(decodeAnswer(JSON.stringify({ status: 200, header: { 'X-Ca-Seq': '4', 'Content-Type': 'text/plain' }, body, isBase64: 1 }))).toEqual({
      seq: '4',
      response: { status: 200, headers: { 'x-ca-seq': '4', 'content-type': 'text/plain' }, body: 'héllo ✓' },
    });
    expect(decodeAnswer('{not json')).toBeUndefined();
    expect(decodeAnswer('null')).toBeUndefined();
  });
});
