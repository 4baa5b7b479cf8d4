import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/protocol/errors.js';
import { lsRemotePatterns, parseLsRemote, parseRefSpec, pickRef } from '../../src/protocol/refs.js';

const SHA = 'a'.repeat(40);

describe('parseRefSpec', () => {
  it.each([
    [undefined, { kind: 'default' }],
    [null, { kind: 'default' }],
    ['', { kind: 'default' }],
    ['main', { kind: 'name', name: 'main' }],
    ['feature/x', { kind: 'name', name: 'feature/x' }],
    ['v3.4.0', { kind: 'name', name: 'v3.4.0' }],
    ['refs/tags/v1', { kind: 'name', name: 'refs/tags/v1' }],
    ['分支', { kind: 'name', name: '分支' }],
    [SHA, { kind: 'commit', commit: SHA }],
    [SHA.toUpperCase(), { kind: 'commit', commit: SHA }],
    ['b'.repeat(64), { kind: 'commit', commit: 'b'.repeat(64) }],
    ['abc1234', { kind: 'name', name: 'abc1234' }],
  ])('%s', (input, expected) => {
    expect(parseRefSpec(input)).toEqual(expected);
  });

  it.each([
    [42],
    [{}],
    ['-b'],
    ['--upload-pack=evil'],
    ['a..b'],
    ['a b'],
    ['a~1'],
    ['a^'],
    ['a:b'],
    ['a?'],
    ['a*'],
    ['a[b'],
    ['a\\b'],
    ['a@{1}'],
    ['@'],
    ['/a'],
    ['a/'],
    ['a.'],
    ['a.lock'],
    ['.hidden'],
    ['a/.b'],
    ['a//b'],
    ['a\u0000b'],
    ['x'.repeat(256)],
  ])('rejects %j', (input) => {
    expect(() => parseRefSpec(input)).toThrow(FerryError);
    try {
      parseRefSpec(input);
    } catch (error) {
      expect((error as FerryError).code).toBe('INVALID_REF');
    }
  });
});

describe('ls-remote resolution', () => {
  const listing = [
    'ref: refs/heads/main\tHEAD',
    `${'1'.repeat(40)}\tHEAD`,
    `${'1'.repeat(40)}\trefs/heads/main`,
    `${'2'.repeat(40)}\trefs/heads/v1.0.0`,
    `${'3'.repeat(40)}\trefs/tags/v1.0.0`,
    `${'4'.repeat(40)}\trefs/tags/v1.0.0^{}`,
    `${'5'.repeat(40)}\trefs/tags/light`,
    `${'6'.repeat(40)}\trefs/heads/feature/x`,
    'garbage line',
  ].join('\n');
  const refs = parseLsRemote(listing);

  it.each([
    [{ kind: 'default' } as const, { commit: '1'.repeat(40), ref: 'main' }],
    [{ kind: 'name', name: 'main' } as const, { commit: '1'.repeat(40), ref: 'main' }],
    // git prefers the tag over a branch of the same name, and peels annotated tags to the commit.
    [{ kind: 'name', name: 'v1.0.0' } as const, { commit: '4'.repeat(40), ref: 'v1.0.0' }],
    [{ kind: 'name', name: 'refs/heads/v1.0.0' } as const, { commit: '2'.repeat(40), ref: 'refs/heads/v1.0.0' }],
    [{ kind: 'name', name: 'light' } as const, { commit: '5'.repeat(40), ref: 'light' }],
    [{ kind: 'name', name: 'feature/x' } as const, { commit: '6'.repeat(40), ref: 'feature/x' }],
    [{ kind: 'name', name: 'x' } as const, undefined],
    [{ kind: 'name', name: 'nope' } as const, undefined],
  ])('%j', (spec, expected) => {
    expect(pickRef(spec, refs)).toEqual(expected);
  });

  it('finds nothing in an empty repository', () => {
    expect(pickRef({ kind: 'default' }, parseLsRemote(''))).toBeUndefined();
  });

  it('asks the server only for refs that could match', () => {
    expect(lsRemotePatterns({ kind: 'default' })).toEqual(['HEAD']);
    expect(lsRemotePatterns({ kind: 'name', name: 'v1' })).toEqual(['refs/tags/v1', 'refs/tags/v1^{}', 'refs/heads/v1', 'refs/heads/v1^{}', 'refs/v1', 'refs/v1^{}']);
    expect(lsRemotePatterns({ kind: 'name', name: 'refs/heads/x' })).toEqual(['refs/heads/x', 'refs/heads/x^{}']);
  });
});
