import { describe, expect, it } from 'vitest';
import { findDuplicateKey } from '../../src/util/json-duplicate-keys.js';

const cases: Array<[name: string, text: string, expected: { key: string; path: string } | undefined]> = [
  ['no keys', '[1, "a", true, null]', undefined],
  ['distinct keys', '{"url":"https://x/o/r","ref":"main"}', undefined],
  ['the hostile body', '{"url":"file:///etc/passwd","url":"https://github.com/o/r"}', { key: 'url', path: '$' }],
  ['equal keys in sibling objects are fine', '[{"a":1},{"a":2}]', undefined],
  ['a key equal to its parent key is fine', '{"a":{"a":{"a":1}}}', undefined],
  ['a nested object', '{"x":{"a":1,"b":2,"a":3}}', { key: 'a', path: '$.x' }],
  ['inside an array', '{"refs":[{"n":1},{"n":1,"n":2}]}', { key: 'n', path: '$.refs[1]' }],
  ['after a nested object closes, keys of the outer one still count', '{"a":{"b":1},"b":2,"a":3}', { key: 'a', path: '$' }],
  ['a value equal to a key is not a key', '{"a":"b","b":"a"}', undefined],
  ['a string value that looks like JSON', '{"a":"{\\"a\\":1,\\"a\\":2}","b":1}', undefined],
  ['escaped quotes inside keys', '{"a\\"b":1,"a\\"b":2}', { key: 'a"b', path: '$' }],
  ['a key ending in an escaped backslash', '{"a\\\\":1,"a\\\\":2}', { key: 'a\\', path: '$' }],
  ['an escaped backslash then a quote is not an escaped quote', '{"a\\\\":1,"b":2}', undefined],
  // JSON.parse decodes escapes before it compares, so the check does too: `u\u0072l` is `url`.
  ['a unicode escape spelling the same key', '{"url":"file:///etc/passwd","u\\u0072l":"https://github.com/o/r"}', { key: 'url', path: '$' }],
  ['a surrogate-pair escape', '{"\\ud83d\\ude00":1,"😀":2}', { key: '😀', path: '$' }],
  ['keys differing only in case are distinct', '{"url":1,"URL":2}', undefined],
  ['whitespace everywhere', ' { "a" : 1 ,\n "b" : [ { } , [ ] ] ,\t"a" : 2 } ', { key: 'a', path: '$' }],
  ['brackets inside strings', '{"a":"}]{[","b":"\\"}","a":1}', { key: 'a', path: '$' }],
  ['an empty key twice', '{"":1,"":2}', { key: '', path: '$' }],
  ['a path through an odd key', '{"a b":{"c":1,"c":2}}', { key: 'c', path: '$["a b"]' }],
];

describe('findDuplicateKey', () => {
  it.each(cases)('%s', (_name, text, expected) => {
    // Every case is valid JSON: the check runs only after JSON.parse accepted the text.
    expect(() => JSON.parse(text)).not.toThrow();
    expect(findDuplicateKey(text)).toEqual(expected);
  });

  it('agrees with JSON.parse on which keys an object ends up with', () => {
    const text = '{"a":1,"b":{"c":[1,{"d":2}]},"e":"f"}';
    expect(findDuplicateKey(text)).toBeUndefined();
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['a', 'b', 'e']);
  });
});
