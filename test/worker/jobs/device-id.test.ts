import { describe, expect, it } from 'vitest';
import { parseClientFrame } from '../../../src/local/gateway/frames.js';
import { FerryError } from '../../../src/protocol/errors.js';
import { loadConfig } from '../../../src/worker/config.js';
import { parseJobRequest } from '../../../src/worker/jobs/request.js';

// The device a job's pushes go to: one alphabet with the gateway's RG#<deviceId>, and bound to the connection
// that sent the request when it came over the websocket (the gateway sets x-ca-deviceid then).
const config = loadConfig({});
const URL_ = 'https://github.com/owner/repo';

function refused(body: Record<string, unknown>, header: string | null): FerryError {
  try {
    parseJobRequest(body, config, header);
  } catch (error) {
    return error as FerryError;
  }
  throw new Error('accepted');
}

describe('device ids', () => {
  it.each([
    ['a=b+c', true],
    ['0f8e3c1a-6c1e-4d7b-9c1b-2f1e5b7a9d10@204906541', true],
    ['-leading.dash_and:colon', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    ['a b', false],
    ['a/b', false],
    ['a#b', false],
    ['dévice', false],
  ])('%j: the gateway and the worker agree (accepted: %s)', (id, accepted) => {
    expect(parseClientFrame(`RG#${id}`).kind, 'gateway').toBe(accepted ? 'register' : 'bad-register');
    // An empty deviceId means none; every other refusal is INVALID_DEVICE_ID.
    if (id === '') return;
    if (accepted) expect(parseJobRequest({ url: URL_, deviceId: id }, config, null).deviceId, 'worker').toBe(id);
    else expect(refused({ url: URL_, deviceId: id }, null).code, 'worker').toBe('INVALID_DEVICE_ID');
  });
});

describe("a job's pushes", () => {
  it("go to the connection's device when the request came over the websocket", () => {
    expect(parseJobRequest({ url: URL_ }, config, 'dev-conn').deviceId).toBe('dev-conn');
    expect(parseJobRequest({ url: URL_, deviceId: 'dev-conn' }, config, 'dev-conn').deviceId).toBe('dev-conn');
    expect(parseJobRequest({ kind: 'file', url: 'https://github.com/o/r/releases/download/v1/x.tgz' }, config, 'dev-conn').deviceId).toBe('dev-conn');
  });

  it('are never aimed at another device than the connection that asked: 400 naming both', () => {
    for (const body of [{ url: URL_, deviceId: 'dev-victim' }, { kind: 'file', url: 'https://github.com/o/r/releases/download/v1/x.tgz', deviceId: 'dev-victim' }]) {
      const error = refused(body, 'dev-conn');
      expect(error.code).toBe('INVALID_DEVICE_ID');
      expect(error.status).toBe(400);
      expect(error.message).toContain('dev-victim');
      expect(error.message).toContain('dev-conn');
    }
  });

  it('go to the body\'s device over plain HTTP, where there is no connection', () => {
    expect(parseJobRequest({ url: URL_, deviceId: 'dev-page' }, config, null).deviceId).toBe('dev-page');
  });
});
