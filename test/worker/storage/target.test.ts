import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/worker/config.js';
import { createObjectStore, storageTarget } from '../../../src/worker/storage/oss-store.js';

const base = { FERRY_OSS_BUCKET: 'ferry', FERRY_OSS_ENDPOINT: 'https://oss-cn-hongkong-internal.aliyuncs.com' };
const fixed = { FERRY_OSS_ACCESS_KEY_ID: 'LTAI-fixed', FERRY_OSS_ACCESS_KEY_SECRET: 'fixed-secret' };
const fcEnv = { ALIBABA_CLOUD_ACCESS_KEY_ID: 'STS.env', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'env-secret', ALIBABA_CLOUD_SECURITY_TOKEN: 'env-token' };
const invocation = { accessKeyId: 'STS.invocation', accessKeySecret: 'invocation-secret', securityToken: 'invocation-token' };

describe('which key OSS calls use', () => {
  it.each([
    ['the fixed FERRY_OSS_* key, over the invocation and FC env ones', { ...fixed, ...fcEnv }, invocation, 'LTAI-fixed'],
    ["the invocation's STS credentials, over FC's env ones", fcEnv, invocation, 'STS.invocation'],
    ["FC's env credentials when the invocation brings none", fcEnv, undefined, 'STS.env'],
  ])('%s', (_what, env, given, expected) => {
    expect(storageTarget(loadConfig({ ...base, ...env }).oss, given).credentials.accessKeyId).toBe(expected);
  });

  it('keeps each key with its own token', () => {
    expect(storageTarget(loadConfig({ ...base, ...fixed, ...fcEnv }).oss).credentials.securityToken).toBeUndefined();
    expect(storageTarget(loadConfig({ ...base, ...fcEnv }).oss).credentials.securityToken).toBe('env-token');
  });

  it('without any key: 503 STORAGE_NOT_CONFIGURED', () => {
    expect(() => storageTarget(loadConfig(base).oss)).toThrow(expect.objectContaining({ code: 'STORAGE_NOT_CONFIGURED' }));
  });
});

describe('where signed download URLs point', () => {
  const signed = async (publicEndpoint: string): Promise<URL> => {
    const config = loadConfig({ ...base, ...fixed, FERRY_OSS_PUBLIC_ENDPOINT: publicEndpoint });
    return new URL(await createObjectStore(storageTarget(config.oss)).signGetUrl('archives/ab/x.zip', 600));
  };

  it.each([
    ['the public endpoint, bucket as a subdomain', 'https://oss-cn-hongkong.aliyuncs.com', 'ferry.oss-cn-hongkong.aliyuncs.com'],
    ['transfer acceleration, bucket as a subdomain', 'https://oss-accelerate.aliyuncs.com', 'ferry.oss-accelerate.aliyuncs.com'],
    ['a domain bound to the bucket, as it is', 'https://dl.example.com', 'dl.example.com'],
  ])('%s', async (_what, endpoint, host) => {
    const url = await signed(endpoint);
    expect(url.host).toBe(host);
    expect(url.pathname).toBe('/archives/ab/x.zip');
  });
});
