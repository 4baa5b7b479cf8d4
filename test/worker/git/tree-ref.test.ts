import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import type { RefsAnswer } from '../../../src/protocol/remote-refs.js';
import { refChoice, refFromTree } from '../../../src/worker/git/tree-ref.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';

const policy = { allowedHosts: ['github.com'], allowHttp: false };
const repo = (url: string) => parseRepoUrl(url, policy);
const sha = 'c'.repeat(40);

describe('refChoice: the URL\'s ref and the request\'s `ref` together', () => {
  it.each([
    ['https://github.com/o/r', undefined, { ref: { kind: 'default' } }],
    ['https://github.com/o/r', 'dev', { ref: { kind: 'name', name: 'dev' } }],
    ['https://github.com/o/r/tree/4.x', undefined, { ref: { kind: 'name', name: '4.x' } }],
    ['https://github.com/o/r/tree/4.x', '4.x', { ref: { kind: 'name', name: '4.x' } }],
    [`https://github.com/o/r/tree/${sha}`, undefined, { ref: { kind: 'commit', commit: sha } }],
    ['https://github.com/o/r/tree/feature/x/lib', undefined, { tree: ['feature', 'x', 'lib'] }],
    // An explicit ref that is a start of the path settles where the ref ends.
    ['https://github.com/o/r/tree/feature/x/lib', 'feature/x', { ref: { kind: 'name', name: 'feature/x' } }],
    [`https://github.com/o/r/commit/${sha}`, undefined, { ref: { kind: 'commit', commit: sha } }],
    [`https://github.com/o/r/commit/${sha}`, sha.toUpperCase(), { ref: { kind: 'commit', commit: sha } }],
  ])('%s with ref %j → %j', (url, ref, expected) => {
    expect(refChoice(repo(url), ref)).toEqual(expected);
  });

  it.each([
    ['https://github.com/o/r/tree/4.x', 'main', /The URL names "4\.x" \(\/tree\/4\.x\) but `ref` \(--ref\) is "main"/],
    ['https://github.com/o/r/tree/feature/x', 'feat', /names "feature\/x".*is "feat"/],
    [`https://github.com/o/r/commit/${sha}`, 'main', new RegExp(`names commit ${sha} but .* is "main"`)],
  ])('%s with ref %j is a 400 naming both', (url, ref, message) => {
    let error: unknown;
    try {
      refChoice(repo(url), ref);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('INVALID_REF');
    expect((error as FerryError).status).toBe(400);
    expect((error as FerryError).message).toMatch(message);
  });
});

describe('refFromTree: the longest start of the path that the remote has', () => {
  const remote: RefsAnswer = {
    repo: 'https://github.com/o/r',
    refs: ['refs/heads/main', 'refs/heads/feature', 'refs/heads/feature/x', 'refs/tags/v1.0.0'].map((name) => ({ name, oid: sha })),
  };
  it.each([
    [['feature', 'x', 'lib', 'a.js'], { kind: 'name', name: 'feature/x' }],
    [['feature', 'y'], { kind: 'name', name: 'feature' }],
    [['v1.0.0', 'docs'], { kind: 'name', name: 'v1.0.0' }],
    [[sha, 'src'], { kind: 'commit', commit: sha }],
  ])('%j → %j', (segments, expected) => {
    expect(refFromTree(repo('https://github.com/o/r'), segments, remote)).toEqual(expected);
  });

  it('names the path when no start of it is a branch or tag', () => {
    expect(() => refFromTree(repo('https://github.com/o/r'), ['nope', 'x'], remote)).toThrow(/No branch or tag of https:\/\/github\.com\/o\/r is named by \/tree\/nope\/x/);
  });
});
