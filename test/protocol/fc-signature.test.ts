import OpenApiUtilModule from '@alicloud/openapi-util';
import { describe, expect, it } from 'vitest';
import { ACS3_ALGORITHM, encodePath, signAcs3, verifyAcs3 } from '../../src/protocol/fc-signature.js';
import type { Credentials } from '../../src/protocol/credentials.js';

// Alibaba Cloud's own V3 signer (the one its OpenAPI SDKs call), a CommonJS module whose class is
// `exports.default`: Node's ESM loader hands over the module object, vitest's interop the class itself.
type OpenApiUtilClass = typeof OpenApiUtilModule.default;
const OpenApiUtil: OpenApiUtilClass = (OpenApiUtilModule as { default?: OpenApiUtilClass }).default ?? (OpenApiUtilModule as unknown as OpenApiUtilClass);

const key: Credentials = { accessKeyId: 'LTAI5tTestKeyId', accessKeySecret: 'test-secret-value' };
const sts: Credentials = { accessKeyId: 'STS.NUd3fakeTestKey', accessKeySecret: 'sts-secret', securityToken: 'CAIS+token/with=odd&chars' };
const DATE = new Date('2024-05-06T07:08:09.123Z');
const NONCE = '3156853299f313e23d1673dc12e1703d';

interface Case {
  name: string;
  credentials: Credentials;
  functionName: string;
  query: Record<string, string>;
  body: string | undefined;
  host: string;
}

const cases: Case[] = [
  { name: 'key, body, qualifier', credentials: key, functionName: 'ferry', query: { qualifier: 'LATEST' }, body: '{"type":"job"}', host: '1234567890123456.cn-hongkong-internal.fc.aliyuncs.com' },
  { name: 'STS token, body', credentials: sts, functionName: 'ferry-worker', query: { qualifier: 'LATEST' }, body: '{"type":"job","spec":"{\\"a\\":1}"}', host: '1234567890123456.cn-hongkong.fc.aliyuncs.com' },
  { name: 'key, no body, no query', credentials: key, functionName: 'ferry', query: {}, body: undefined, host: '127.0.0.1:9000' },
  { name: 'STS token, no body', credentials: sts, functionName: 'f_1', query: { qualifier: 'prod' }, body: undefined, host: 'fc.example' },
  { name: 'path that needs encoding', credentials: sts, functionName: "my fn*(x)~!'é", query: { qualifier: 'a b*c' }, body: 'ünïcode body', host: 'fc.example' },
];

/** The headers Alibaba Cloud's OpenAPI client (doRequest, V3) builds for InvokeFunction. */
function sdkHeaders(c: Case, bodyHash: string): Record<string, string> {
  const headers: Record<string, string> = {
    host: c.host,
    'x-acs-version': '2023-03-30',
    'x-acs-action': 'InvokeFunction',
    'user-agent': 'AlibabaCloud (linux; x64) Node.js/v20 Core/1.0.1 TeaDSL/2',
    'x-acs-date': '2024-05-06T07:08:09Z',
    'x-acs-signature-nonce': NONCE,
    accept: 'application/json',
    'x-fc-invocation-type': 'Async',
  };
  if (c.body !== undefined) headers['content-type'] = 'application/octet-stream';
  headers['x-acs-content-sha256'] = bodyHash;
  if (c.credentials.securityToken) {
    headers['x-acs-accesskey-id'] = c.credentials.accessKeyId;
    headers['x-acs-security-token'] = c.credentials.securityToken;
  }
  return headers;
}

describe('ACS3-HMAC-SHA256 signer', () => {
  it.each(cases)('matches Alibaba Cloud’s signer byte for byte: $name', (c) => {
    const pathname = `/2023-03-30/functions/${OpenApiUtil.getEncodeParam(c.functionName)}/invocations`;
    expect(encodePath(`/2023-03-30/functions/${c.functionName}/invocations`)).toBe(pathname);

    const search = Object.entries(c.query).map(([k, v]) => `${k}=${OpenApiUtil.getEncodeParam(v)}`).join('&');
    const url = new URL(`http://${c.host}${pathname}${search ? `?${search}` : ''}`);
    const ours = signAcs3({
      method: 'POST',
      url,
      action: 'InvokeFunction',
      version: '2023-03-30',
      headers: { 'x-fc-invocation-type': 'Async', ...(c.body !== undefined && { 'content-type': 'application/octet-stream' }) },
      body: c.body,
      credentials: c.credentials,
      date: DATE,
      nonce: NONCE,
    });

    const bodyHash = OpenApiUtil.hexEncode(OpenApiUtil.hash(Buffer.from(c.body ?? '', 'utf8'), ACS3_ALGORITHM));
    expect(ours['x-acs-content-sha256']).toBe(bodyHash);
    const request = { method: 'POST', pathname, query: c.query, headers: sdkHeaders(c, bodyHash) };
    const theirs = OpenApiUtil.getAuthorization(request as never, ACS3_ALGORITHM, bodyHash, c.credentials.accessKeyId, c.credentials.accessKeySecret);
    expect(ours.authorization).toBe(theirs);
    expect(theirs).toMatch(/^ACS3-HMAC-SHA256 Credential=[^,]+,SignedHeaders=[a-z0-9;-]+,Signature=[0-9a-f]{64}$/);

    // And what we sign, we accept.
    expect(verifyAcs3({ method: 'POST', url, headers: ours, body: Buffer.from(c.body ?? ''), credentials: c.credentials, now: DATE })).toBeUndefined();
  });

  it('signs the STS token and names the key beside it, as the SDK does', () => {
    const headers = signAcs3({ method: 'POST', url: new URL('https://fc.example/x'), action: 'InvokeFunction', version: '2023-03-30', credentials: sts, date: DATE, nonce: NONCE });
    expect(headers['x-acs-security-token']).toBe(sts.securityToken);
    expect(headers['x-acs-accesskey-id']).toBe(sts.accessKeyId);
    expect(headers.authorization).toContain('SignedHeaders=host;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,');
    expect(headers['x-acs-date']).toBe('2024-05-06T07:08:09Z');
  });
});
