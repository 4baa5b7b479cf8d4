import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/worker/config.js';

// What FC itself puts in a custom runtime's environment.
const fc = { FC_FUNCTION_NAME: 'ferry', FC_ACCOUNT_ID: '1234567890123456', FC_REGION: 'cn-hongkong' };
const async = { FERRY_DISPATCH: 'async', FERRY_DISPATCH_SECRET: 's3cret' };

describe('FERRY_DISPATCH', () => {
  it('is inline by default, keeping the secret for job events', () => {
    expect(loadConfig({}).dispatch).toEqual({ mode: 'inline', secret: undefined, invoke: undefined });
    expect(loadConfig({ FERRY_DISPATCH_SECRET: 'x', ...fc }).dispatch).toEqual({ mode: 'inline', secret: 'x', invoke: undefined });
  });

  it('async invokes this function on FC’s internal endpoint, LATEST unless a qualifier is set', () => {
    expect(loadConfig({ ...fc, ...async }).dispatch.invoke).toEqual({
      endpoint: 'https://1234567890123456.cn-hongkong-internal.fc.aliyuncs.com',
      functionName: 'ferry',
      qualifier: 'LATEST',
      credentials: undefined,
    });
    const custom = loadConfig({
      ...fc,
      ...async,
      FERRY_FC_ENDPOINT: 'http://127.0.0.1:8080/',
      FERRY_FC_QUALIFIER: 'prod',
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'id',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret',
    }).dispatch.invoke;
    expect(custom).toMatchObject({ endpoint: 'http://127.0.0.1:8080', qualifier: 'prod', credentials: { accessKeyId: 'id', accessKeySecret: 'secret' } });
  });

  it('needs no FC_ACCOUNT_ID or FC_REGION when the endpoint is given', () => {
    expect(loadConfig({ FC_FUNCTION_NAME: 'ferry', ...async, FERRY_FC_ENDPOINT: 'https://fc.example' }).dispatch.invoke?.endpoint).toBe('https://fc.example');
  });

  it.each([
    ['an unknown mode', { FERRY_DISPATCH: 'url' }, /Expected FERRY_DISPATCH to be one of inline, async, got "url"/],
    ['async without an endpoint or FC_*', { ...async, FC_FUNCTION_NAME: 'ferry' }, /FERRY_DISPATCH=async needs FERRY_FC_ENDPOINT, or FC_ACCOUNT_ID and FC_REGION/],
    ['async with only FC_REGION', { ...async, FC_FUNCTION_NAME: 'ferry', FC_REGION: 'cn-hongkong' }, /needs FERRY_FC_ENDPOINT, or FC_ACCOUNT_ID and FC_REGION/],
    ['async without a function name', { ...async, FERRY_FC_ENDPOINT: 'https://fc.example' }, /FERRY_DISPATCH=async needs FC_FUNCTION_NAME/],
    ['async without a secret', { ...fc, FERRY_DISPATCH: 'async' }, /FERRY_DISPATCH=async needs FERRY_DISPATCH_SECRET/],
    ['an endpoint with a path', { ...fc, ...async, FERRY_FC_ENDPOINT: 'https://fc.example/2023-03-30' }, /Expected FERRY_FC_ENDPOINT to be an http\(s\) origin/],
  ])('refuses %s at start-up, saying what to set', (_what, env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
