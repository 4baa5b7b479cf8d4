/**
 * Our signer against the vendor's own (`aliyun-api-gateway`): the vendor client sends real requests
 * to a node:http server on port 0; we sign the same inputs and compare the headers byte for byte,
 * then feed the captured request to our verifier. Paths the vendor cannot put on the wire (unicode)
 * are compared through its `buildStringToSign` directly.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { parse as parseUrl } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildStringToSign,
  NonceCache,
  signRequest,
  verifyRequest,
  type SignableRequest,
} from '../../src/protocol/apigw-signature.js';

const require = createRequire(import.meta.url);
// The vendor package is untyped CommonJS; these are the members the tests touch.
interface VendorClientInstance {
  buildStringToSign(...args: unknown[]): string;
  getSignHeaderKeys(headers: Record<string, string>, signHeaders: Record<string, string>): string[];
  getSignedHeadersString(keys: string[], headers: Record<string, string>): string;
  sign(stringToSign: string): string;
  [method: string]: unknown;
}
const { Client: VendorClient } = require('aliyun-api-gateway') as {
  Client: new (key: string, secret: string) => VendorClientInstance;
};

const creds = { appKey: '203870000', appSecret: 'c2VjcmV0LXdpdGgtw7xuaWPDtmRl' };
const NOW = 1_700_000_000_000;

interface Captured {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  stringToSign: string;
}

let server: Server;
let base: string;
let lastRequest: Omit<Captured, 'stringToSign'> | undefined;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      lastRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers as Record<string, string>,
        body: Buffer.concat(chunks),
      };
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Runs the vendor client for real and returns what reached the wire plus its stringToSign. */
async function vendor(method: 'get' | 'post' | 'put' | 'delete', path: string, opts: Record<string, unknown>): Promise<Captured> {
  let stringToSign = '';
  class Spy extends VendorClient {
    override buildStringToSign(...args: unknown[]): string {
      stringToSign = super.buildStringToSign(...args);
      return stringToSign;
    }
  }
  const client = new Spy(creds.appKey, creds.appSecret);
  lastRequest = undefined;
  await (client[method] as (url: string, opts: unknown) => Promise<unknown>).call(client, base + path, opts);
  const arrived = lastRequest as Omit<Captured, 'stringToSign'> | undefined;
  if (!arrived) throw new Error('vendor request did not arrive');
  return { ...arrived, stringToSign };
}

/** The same request as plain data for our signer/verifier, read back from the wire. */
function fromWire(captured: Captured, headers: Record<string, string>): SignableRequest {
  const parsed = new URL(captured.url, 'http://x');
  const query: Record<string, string> = {};
  for (const [k, v] of parsed.searchParams) if (!(k in query)) query[k] = v;
  return { method: captured.method, path: parsed.pathname, query, headers, body: captured.body.length ? captured.body : undefined };
}

/** Fixed clock/nonce given to both signers, and the header our signer adds that the vendor's does not. */
function fixed(nonce: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'x-ca-timestamp': String(NOW), 'x-ca-nonce': nonce, 'x-ca-signature-method': 'HmacSHA256', ...extra };
}

const SENT = ['accept', 'content-md5', 'content-type', 'x-ca-key', 'x-ca-nonce', 'x-ca-signature', 'x-ca-signature-headers', 'x-ca-signature-method', 'x-ca-stage', 'x-ca-timestamp'];

function expectSameHeaders(ours: Record<string, string>, wire: Record<string, string>): void {
  for (const name of Object.keys(ours)) expect(wire[name], name).toBe(ours[name]);
  for (const name of Object.keys(wire)) if (SENT.includes(name) || name.startsWith('x-ca-')) expect(ours[name], name).toBe(wire[name]);
}

function verifyOpts(nonces = new NonceCache()) {
  return { lookupSecret: (key: string) => (key === creds.appKey ? creds.appSecret : undefined), nonces, now: NOW };
}

const cases: {
  name: string;
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  opts: Record<string, unknown>;
  contentType?: string;
  extraHeaders?: Record<string, string>;
}[] = [
  {
    name: 'JSON body (POST)',
    method: 'post',
    path: '/jobs',
    opts: { data: { url: 'https://github.com/owner/repo', ref: 'main', note: 'ünïcødé ✓ 中文' } },
    contentType: 'application/json; charset=UTF-8',
  },
  {
    name: 'form body merged with query, empty values as bare keys',
    method: 'post',
    path: '/register?z=9&empty=&a=first',
    opts: { data: { b: '2', a: 'from-form', blank: '', uni: '日本語 & more' } },
    contentType: 'application/x-www-form-urlencoded; charset=UTF-8',
  },
  {
    name: 'GET with query: empty, valueless, plus, escaped and unicode values',
    method: 'get',
    path: '/jobs/abc?x=1&empty=&flag&plus=a+b&pct=%2F%3F',
    opts: { query: { q: 'ü ß 中', zero: '0' } },
  },
  {
    name: 'multiple x-ca headers, mixed case',
    method: 'post',
    path: '/register',
    opts: { data: '' },
    contentType: 'application/json',
    extraHeaders: { 'X-Ca-Deviceid': 'd9b1@203870000', 'x-ca-seq': '7', 'X-Ca-Websocket_api_type': 'REGISTER', 'x-ca-a-first': 'a' },
  },
  {
    name: 'PUT with JSON body (the vendor sends no Content-MD5)',
    method: 'put',
    path: '/jobs/abc',
    opts: { data: { state: 'x' } },
    contentType: 'application/json',
  },
  {
    name: 'binary body (octet-stream)',
    method: 'post',
    path: '/upload',
    opts: { data: Buffer.from([0, 255, 1, 254, 0x80]) },
    contentType: 'application/octet-stream',
  },
  { name: 'DELETE with query', method: 'delete', path: '/jobs/abc', opts: { query: { force: '' } } },
];

describe('signRequest is byte-identical to aliyun-api-gateway', () => {
  for (const [i, c] of cases.entries()) {
    it(c.name, async () => {
      const nonce = `nonce-${i}`;
      const headers = { ...fixed(nonce, c.extraHeaders), ...(c.contentType ? { 'content-type': c.contentType } : {}) };
      const captured = await vendor(c.method, c.path, { ...c.opts, headers: { ...headers } });

      // Ours, from the same inputs as they arrived on the wire.
      const ourInput = fromWire(captured, { ...(c.contentType ? { 'content-type': c.contentType } : {}), ...c.extraHeaders });
      const ours = signRequest(ourInput, creds, { now: NOW, nonce, stage: 'RELEASE' });
      const ourStringToSign = buildStringToSign({ ...ourInput, headers: ours }, ours['x-ca-signature-headers']!.split(','));

      expect(ourStringToSign).toBe(captured.stringToSign);
      expectSameHeaders(ours, captured.headers);

      // And the verifier accepts what the vendor put on the wire.
      expect(verifyRequest({ ...ourInput, headers: captured.headers }, verifyOpts())).toEqual({ ok: true, appKey: creds.appKey });
    });
  }

  it('unicode and reserved characters in the path (compared through the vendor function)', () => {
    const client = new VendorClient(creds.appKey, creds.appSecret);
    const headers = { accept: 'application/json', 'content-type': 'application/json', 'x-ca-key': creds.appKey, ...fixed('n-u') };
    const keys = client.getSignHeaderKeys(headers, {});
    const url = parseUrl('http://h/repos/中文/ü?name=ç&b=', true);
    const theirs = client.buildStringToSign('GET', headers, client.getSignedHeadersString(keys, headers), url);
    const ours = buildStringToSign({ method: 'GET', path: '/repos/中文/ü', query: { name: 'ç', b: '' }, headers }, keys);
    expect(ours).toBe(theirs);
    expect(signRequest({ method: 'GET', path: '/repos/中文/ü', query: { name: 'ç', b: '' }, headers: { 'content-type': 'application/json' } }, creds, { now: NOW, nonce: 'n-u' })['x-ca-signature']).toBe(
      client.sign(theirs),
    );
  });
});

describe('verifyRequest', () => {
  const body = JSON.stringify({ url: 'https://github.com/a/b' });
  const base: SignableRequest = { method: 'POST', path: '/jobs', query: { a: '1' }, headers: { 'content-type': 'application/json' }, body };
  const sign = (overrides: { now?: number; nonce?: string; creds?: typeof creds } = {}) => ({
    ...base,
    headers: signRequest(base, overrides.creds ?? creds, { now: overrides.now ?? NOW, nonce: overrides.nonce ?? 'n-1' }),
  });

  it('accepts a good request', () => {
    expect(verifyRequest(sign(), verifyOpts())).toEqual({ ok: true, appKey: creds.appKey });
  });

  it('rejects a bad signature and returns the server StringToSign', () => {
    const req = sign();
    const result = verifyRequest({ ...req, query: { a: '2' } }, verifyOpts());
    expect(result).toMatchObject({ ok: false, status: 400 });
    if (result.ok) throw new Error('unreachable');
    expect(result.errorMessage).toMatch(/^Invalid Signature, Server StringToSign:`POST#application\/json#.*\/jobs\?a=2`$/);
    expect(result.errorMessage).not.toContain('\n');
    expect(verifyRequest(sign({ creds: { ...creds, appSecret: 'wrong' } }), verifyOpts())).toMatchObject({ ok: false, status: 400 });
  });

  it('rejects a tampered body through Content-MD5', () => {
    expect(verifyRequest({ ...sign(), body: body + ' ' }, verifyOpts())).toEqual({ ok: false, status: 400, errorMessage: 'Invalid Content-MD5' });
  });

  it('rejects timestamps more than 15 minutes off either way, accepts at the edge', () => {
    const skew = 15 * 60_000;
    expect(verifyRequest(sign({ now: NOW - skew - 1 }), verifyOpts())).toEqual({ ok: false, status: 400, errorMessage: 'Timestamp Expired' });
    expect(verifyRequest(sign({ now: NOW + skew + 1, nonce: 'n-2' }), verifyOpts())).toEqual({ ok: false, status: 400, errorMessage: 'Timestamp Expired' });
    expect(verifyRequest(sign({ now: NOW - skew, nonce: 'n-3' }), verifyOpts()).ok).toBe(true);
    const garbage = sign();
    garbage.headers['x-ca-timestamp'] = 'yesterday';
    expect(verifyRequest(garbage, verifyOpts())).toEqual({ ok: false, status: 400, errorMessage: 'Invalid Timestamp' });
  });

  it('rejects a reused nonce, but only after the signature checks out', () => {
    const nonces = new NonceCache();
    const req = sign({ nonce: 'once' });
    const forged = { ...req, headers: { ...req.headers, 'x-ca-signature': 'AAAA' } };
    expect(verifyRequest(forged, verifyOpts(nonces)).ok).toBe(false);
    expect(verifyRequest(req, verifyOpts(nonces)).ok).toBe(true);
    expect(verifyRequest(req, verifyOpts(nonces))).toEqual({ ok: false, status: 400, errorMessage: 'Nonce Used' });
  });

  it('rejects an unknown or missing app key, and a missing signature', () => {
    expect(verifyRequest(sign({ creds: { appKey: 'nobody', appSecret: 'x' } }), verifyOpts())).toEqual({ ok: false, status: 400, errorMessage: 'Invalid AppKey' });
    const { 'x-ca-key': _key, ...noKey } = sign().headers;
    expect(verifyRequest({ ...base, headers: noKey }, verifyOpts())).toMatchObject({ errorMessage: 'Invalid AppKey' });
    const { 'x-ca-signature': _sig, ...noSig } = sign().headers;
    expect(verifyRequest({ ...base, headers: noSig }, verifyOpts())).toEqual({ ok: false, status: 404, errorMessage: 'Empty Signature' });
  });

  it('requires the timestamp, nonce and device id to be covered by the signature', () => {
    const req = sign();
    const headers = { ...req.headers, 'x-ca-signature-headers': 'x-ca-key' };
    expect(verifyRequest({ ...req, headers }, verifyOpts())).toMatchObject({ ok: false, status: 400 });
    const withDevice = { ...req.headers, 'x-ca-deviceid': 'someone-else' };
    expect(verifyRequest({ ...req, headers: withDevice }, verifyOpts())).toMatchObject({ ok: false, status: 400 });
  });

  it('signs form parameters named like Object.prototype members, first value winning', () => {
    const form: SignableRequest = {
      method: 'POST',
      path: '/jobs',
      query: { a: '1' },
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'constructor=x&toString=1&constructor=y',
    };
    expect(buildStringToSign(form, []).split('\n').at(-1)).toBe('/jobs?a=1&constructor=x&toString=1');
    expect(verifyRequest({ ...form, headers: signRequest(form, creds, { now: NOW, nonce: 'n-form' }) }, verifyOpts()).ok).toBe(true);
  });

  it('verifies header names case-insensitively', () => {
    const req = sign();
    const upper = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyRequest({ ...req, headers: upper }, verifyOpts()).ok).toBe(true);
  });
});

describe('NonceCache', () => {
  it('forgets nonces after the window and stays bounded', () => {
    const cache = new NonceCache({ ttlMs: 1000, maxEntries: 3 });
    expect(cache.use('a', 0)).toBe(true);
    expect(cache.use('a', 999)).toBe(false);
    expect(cache.use('a', 1000)).toBe(true);
    for (const n of ['b', 'c', 'd', 'e']) cache.use(n, 1001);
    expect(cache.size).toBe(3);
  });
});
