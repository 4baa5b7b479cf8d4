import { describe, expect, it } from 'vitest';
import { createRedactor, redactUrls } from '../../src/protocol/redact.js';

const urls: Array<[name: string, text: string, expected: string]> = [
  ['OSS V4', 'get http://b.oss/k?x-oss-date=1&x-oss-signature=abc123&x-oss-expires=60', 'get http://b.oss/k?x-oss-date=1&x-oss-signature=REDACTED&x-oss-expires=60'],
  ['OSS V1, the key id kept', 'https://b.oss/k?OSSAccessKeyId=LTAI1&Expires=1&Signature=a%2Bb%3D', 'https://b.oss/k?OSSAccessKeyId=LTAI1&Expires=1&Signature=REDACTED'],
  ['an STS token', 'https://b.oss/k?security-token=CAIS...&Signature=x', 'https://b.oss/k?security-token=REDACTED&Signature=REDACTED'],
  ['S3 presigned, any case', 'u=https://s3/k?X-Amz-Signature=deadbeef&x-amz-security-token=t1 done', 'u=https://s3/k?X-Amz-Signature=REDACTED&x-amz-security-token=REDACTED done'],
  ['Azure SAS', 'https://a.blob/c?sv=1&sig=abc%3D', 'https://a.blob/c?sv=1&sig=REDACTED'],
  ['a token first in the query', 'https://h/p?token=t0k3n#frag', 'https://h/p?token=REDACTED#frag'],
  ['a value ending at a quote', '"https://h/p?access_token=abc"', '"https://h/p?access_token=REDACTED"'],
  ['a password in the userinfo', 'fetch https://user:hunter2@git.example/o/r failed', 'fetch https://user:REDACTED@git.example/o/r failed'],
  ['a user alone is kept', 'https://user@git.example/o/r', 'https://user@git.example/o/r'],
  ['harmless parameters are kept', 'https://h/p?ref=main&format=zip&signed=1', 'https://h/p?ref=main&format=zip&signed=1'],
  ['an empty signature stays empty', 'https://h/p?Signature=&a=1', 'https://h/p?Signature=&a=1'],
  ['two URLs on one line', 'a https://h/1?sig=x b https://h/2?sig=y', 'a https://h/1?sig=REDACTED b https://h/2?sig=REDACTED'],
  ['no URL', 'job abc done in 3 ms', 'job abc done in 3 ms'],
];

describe('redactUrls', () => {
  it.each(urls)('%s', (_name, text, expected) => {
    expect(redactUrls(text)).toBe(expected);
  });
});

describe('createRedactor', () => {
  it('replaces every known secret, longest first, and ignores short or missing ones', () => {
    const redact = createRedactor(['app-secret-123', 'app-secret-123-and-more', undefined, 'short']);
    expect(redact('a app-secret-123-and-more b app-secret-123 c short')).toBe('a REDACTED b REDACTED c short');
  });

  it('redacts URLs too', () => {
    expect(createRedactor([])('GET https://h/k?Signature=s1')).toBe('GET https://h/k?Signature=REDACTED');
  });
});
