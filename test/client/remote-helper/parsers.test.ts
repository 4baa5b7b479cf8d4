// The helper's pure translations, table-driven: git's option lines, ls-remote and push --porcelain
// output into helper answers, GET /refs into `list` lines, and bundle headers.
import { describe, expect, it } from 'vitest';
import { parseBundleHeader } from '../../../src/client/remote-helper/bundle-apply.js';
import { listLines, lsRemoteLines } from '../../../src/client/remote-helper/list.js';
import { applyOption, defaultOptions, FILTER_REFUSAL, RefusedOptionError, SHALLOW_REFUSAL } from '../../../src/client/remote-helper/options.js';
import { pushStatusLines } from '../../../src/client/remote-helper/push.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('option lines', () => {
  it.each([
    ['verbosity', '0', 'ok', { verbosity: 0 }],
    ['verbosity', '2', 'ok', { verbosity: 2 }],
    ['verbosity', 'loud', 'error verbosity expects a whole number', {}],
    ['progress', 'true', 'ok', { progress: true }],
    ['progress', 'maybe', 'error progress expects true or false', {}],
    ['dry-run', 'true', 'ok', { dryRun: true }],
    ['atomic', 'true', 'ok', { atomic: true }],
    ['push-option', 'ci.skip', 'ok', { pushOptions: ['ci.skip'] }],
    ['followtags', 'true', 'ok', {}],
    ['cloning', 'true', 'ok', {}],
    // git resets depth before following tags: "no depth" is fine.
    ['depth', '0', 'ok', {}],
    ['deepen-relative', 'false', 'ok', {}],
    ['check-connectivity', 'true', 'ok', { checkConnectivity: true }],
    ['object-format', 'true', 'unsupported', {}],
    ['servpath', '/x', 'unsupported', {}],
  ])('option %s %s → %s', (name, value, answer, changed) => {
    const options = defaultOptions();
    expect(applyOption(options, name, value)).toBe(answer);
    expect(options).toEqual({ ...defaultOptions(), ...changed });
  });

  it.each([
    ['depth', '1', SHALLOW_REFUSAL],
    ['deepen-since', '1600000000', SHALLOW_REFUSAL],
    ['deepen-not', 'refs/heads/old', SHALLOW_REFUSAL],
    ['deepen-relative', 'true', SHALLOW_REFUSAL],
    ['filter', 'blob:none', FILTER_REFUSAL],
  ])('option %s %s is refused', (name, value, message) => {
    expect(() => applyOption(defaultOptions(), name, value)).toThrow(RefusedOptionError);
    expect(() => applyOption(defaultOptions(), name, value)).toThrow(message);
  });
});

describe('list lines', () => {
  it('GET /refs: one line per ref (tag objects as they are, no peeled lines) and HEAD as a symref', () => {
    const lines = listLines({ repo: 'github.com/o/r', head: 'refs/heads/main', refs: [{ name: 'refs/heads/main', oid: A }, { name: 'refs/tags/v1', oid: B, peeled: A }] });
    expect(lines).toEqual([`${A} refs/heads/main`, `${B} refs/tags/v1`, '@refs/heads/main HEAD']);
  });

  it('an empty repository lists nothing', () => {
    expect(listLines({ repo: 'github.com/o/r', refs: [] })).toEqual([]);
  });

  it('ls-remote --symref: HEAD once as a symref, peeled lines dropped', () => {
    const out = `ref: refs/heads/main\tHEAD\n${A}\tHEAD\n${A}\trefs/heads/main\n${B}\trefs/tags/v1\n${A}\trefs/tags/v1^{}\n`;
    expect(lsRemoteLines(out)).toEqual([`${A} refs/heads/main`, `${B} refs/tags/v1`, '@refs/heads/main HEAD']);
  });

  it('ls-remote without a symref keeps HEAD\'s oid', () => {
    expect(lsRemoteLines(`${C}\tHEAD\n`)).toEqual([`${C} HEAD`]);
  });
});

describe('push status lines', () => {
  const porcelain = [
    'To http://example.test/o/r',
    '*\trefs/heads/new:refs/heads/new\t[new branch]',
    ' \trefs/heads/main:refs/heads/main\taaaaaaa..bbbbbbb',
    '+\trefs/heads/f:refs/heads/f\t+ aaaaaaa...bbbbbbb (forced update)',
    '=\trefs/heads/same:refs/heads/same\t[up to date]',
    '-\t:refs/heads/gone\t[deleted]',
    '!\trefs/heads/old:refs/heads/old\t[rejected] (non-fast-forward)',
    '!\trefs/heads/hook:refs/heads/hook\t[remote rejected] (pre-receive hook declined)',
    'Done',
  ].join('\n');

  it('maps each refspec to ok or error, with the reasons git reads by name', () => {
    const refspecs = ['refs/heads/new:refs/heads/new', 'refs/heads/main:refs/heads/main', '+refs/heads/f:refs/heads/f', 'refs/heads/same:refs/heads/same', ':refs/heads/gone', 'refs/heads/old:refs/heads/old', 'refs/heads/hook:refs/heads/hook'];
    expect(pushStatusLines(refspecs, porcelain, 1)).toEqual([
      'ok refs/heads/new',
      'ok refs/heads/main',
      'ok refs/heads/f forced update',
      'ok refs/heads/same up to date',
      'ok refs/heads/gone',
      'error refs/heads/old non-fast forward',
      'error refs/heads/hook pre-receive hook declined',
    ]);
  });

  it('a push that failed before reporting (no connection) is an error for every ref', () => {
    expect(pushStatusLines(['refs/heads/main:refs/heads/main'], '', 128)).toEqual(['error refs/heads/main git push failed']);
  });
});

describe('bundle headers', () => {
  it.each([
    ['v2 with a prerequisite and two tips', `# v2 git bundle\n-${A} old tip\n${B} refs/heads/main\n${C} refs/tags/v1\n\nPACK`, { version: 2, prerequisites: [A], tips: [{ oid: B, name: 'refs/heads/main' }, { oid: C, name: 'refs/tags/v1' }] }],
    ['v3 with object-format sha1', `# v3 git bundle\n@object-format=sha1\n${B} refs/heads/main\n\nPACK`, { version: 3, prerequisites: [], tips: [{ oid: B, name: 'refs/heads/main' }] }],
  ])('%s', (_name, text, expected) => {
    const header = parseBundleHeader(Buffer.from(text));
    expect(header).toMatchObject(expected);
    expect(Buffer.from(text).subarray(header?.length).toString()).toBe('PACK');
  });

  it('an unfinished header asks for more bytes', () => {
    expect(parseBundleHeader(Buffer.from(`# v2 git bundle\n${B} refs/heads/main\n`))).toBeUndefined();
  });

  it.each([
    ['not a bundle', 'PK\x03\x04 zip bytes\n\n', /v2 or v3 bundle signature/],
    ['a filtered v3 bundle', `# v3 git bundle\n@filter=blob:none\n${B} refs/heads/main\n\nPACK`, /capability "filter=blob:none"/],
    ['a sha256 bundle', `# v3 git bundle\n@object-format=sha256\n\nPACK`, /object-format=sha256/],
    ['a garbled line', `# v2 git bundle\nnot a ref line\n\nPACK`, /not a ref line/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parseBundleHeader(Buffer.from(text))).toThrow(message);
  });
});
