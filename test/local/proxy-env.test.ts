import { describe, expect, it } from 'vitest';
import { proxyEnv } from '../../src/local/proxy-env.js';

// The embedded stack hands the user's proxy to its worker; the worker's own calls to the stack stay local.
describe('proxyEnv', () => {
  it('passes the proxy variables on and keeps loopback direct', () => {
    expect(proxyEnv({ HTTPS_PROXY: 'http://p:3128', http_proxy: 'http://p:3128', NO_PROXY: 'corp.example', PATH: '/bin' })).toEqual({
      HTTPS_PROXY: 'http://p:3128',
      http_proxy: 'http://p:3128',
      NO_PROXY: 'corp.example,localhost,127.0.0.1,::1',
      no_proxy: 'corp.example,localhost,127.0.0.1,::1',
    });
  });

  it('adds nothing when no proxy is set', () => {
    expect(proxyEnv({ PATH: '/bin', NO_PROXY: 'x' })).toEqual({});
  });
});
