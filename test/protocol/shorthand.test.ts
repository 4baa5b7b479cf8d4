import { describe, expect, it } from 'vitest';
import { nextCommands } from '../../src/protocol/next-steps.js';
import { expandShorthand } from '../../src/protocol/shorthand.js';

describe('expandShorthand', () => {
  it.each([
    ['expressjs/express', {}, 'https://github.com/expressjs/express'],
    ['expressjs/express/', {}, 'https://github.com/expressjs/express/'],
    ['expressjs/express/tree/4.x', {}, undefined],
    ['expressjs/express/tree/4.x', { deep: true }, 'https://github.com/expressjs/express/tree/4.x'],
    ['expressjs', { deep: true }, undefined],
    ['github.com/o/r', { deep: true }, undefined],
    ['localhost/o/r', { deep: true }, undefined],
    ['host:8080/o/r', { deep: true }, undefined],
    ['https://github.com/o/r', { deep: true }, undefined],
    ['git@github.com:o/r.git', { deep: true }, undefined],
  ] as const)('%s %j → %s', (input, options, expected) => {
    expect(expandShorthand(input, options)).toBe(expected);
  });
});

describe('nextCommands', () => {
  it('quotes for a POSIX shell and offers a clone only for a repository', () => {
    const link = { filename: "it's.zip", url: 'https://oss.example/a?x=1&y=2' };
    expect(nextCommands(link, 'https://github.com/o/r')).toEqual({
      curl: `curl -fL -o 'it'\\''s.zip' 'https://oss.example/a?x=1&y=2'`,
      wget: `wget -O 'it'\\''s.zip' 'https://oss.example/a?x=1&y=2'`,
      clone: 'git clone ferry::https://github.com/o/r',
    });
    expect(nextCommands(link, undefined).clone).toBeUndefined();
  });
});
