import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { loadConfig } from '../../../src/worker/config.js';
import { parseJobRequest } from '../../../src/worker/jobs/request.js';

// POST /jobs archive bodies whose URL names more than a repository (issue 12 item 2): checked before any
// network, so the API, the CLI and the page get the same answers.

const config = loadConfig({});
const sha = 'd'.repeat(40);

function refused(body: Record<string, unknown>): FerryError {
  try {
    parseJobRequest(body, config, null);
  } catch (error) {
    return error as FerryError;
  }
  throw new Error('accepted');
}

describe('an archive request', () => {
  it.each([
    ['https://github.com/o/r/blob/main/index.js', /is a file \(a file in the repository\), not a repository.*"kind":"file"/],
    ['https://github.com/o/r/releases/download/v1/x.tgz', /is a file \(a release asset\)/],
  ])('for a file link %s is refused, saying it is a file', (url, message) => {
    const error = refused({ url, format: 'zip' });
    expect(error.code).toBe('INVALID_URL');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
  });

  it('takes the ref a /tree/ or /commit/ URL names', () => {
    expect(parseJobRequest({ url: 'https://github.com/expressjs/express/tree/4.x' }, config, null)).toMatchObject({ ref: { kind: 'name', name: '4.x' } });
    expect(parseJobRequest({ url: `https://github.com/o/r/commit/${sha}` }, config, null)).toMatchObject({ ref: { kind: 'commit', commit: sha } });
    expect(parseJobRequest({ url: 'https://github.com/o/r/tree/feature/x/lib' }, config, null)).toMatchObject({ tree: ['feature', 'x', 'lib'] });
  });

  it('with a different `ref` is a 400 naming both', () => {
    const error = refused({ url: 'https://github.com/expressjs/express/tree/4.x', ref: 'master' });
    expect(error.code).toBe('INVALID_REF');
    expect(error.message).toMatch(/"4\.x".*"master"/);
  });

  it('takes owner/repo as github.com', () => {
    expect(parseJobRequest({ url: 'expressjs/express' }, config, null)).toMatchObject({ repo: { canonical: 'https://github.com/expressjs/express' } });
  });
});
