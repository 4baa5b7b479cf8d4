// Hostile values of a job's other fields through the real local stack: `format`, `kind`, a bundle's `have` list and
// `deviceId`, and fields the API does not know. All refused before any git request.
import { afterAll, beforeAll } from 'vitest';
import { hostileTable, postJson, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

let stage: HostileStack;
beforeAll(async () => {
  stage = await startHostileStack();
});
afterAll(() => stage?.close());

type Fields = (s: HostileStack) => Record<string, unknown>;

function row(name: string, fields: Fields, status: number, code: string, message: RegExp): Row<HostileStack> {
  return { name, send: (s) => postJson(s.stack.api, '/jobs', fields(s)), status, code, message };
}

const format = (name: string, value: unknown): Row<HostileStack> => row(`format ${name}`, (s) => ({ url: s.repo, format: value }), 400, 'INVALID_FORMAT', /Expected `format` to be one of zip, tar\.gz/);
const kind = (name: string, value: unknown): Row<HostileStack> => row(`kind ${name}`, (s) => ({ kind: value, url: s.repo }), 400, 'BAD_REQUEST', /Expected `kind` to be one of archive, bundle, file/);
const have = (name: string, value: unknown, message: RegExp): Row<HostileStack> => row(`have ${name}`, (s) => ({ kind: 'bundle', url: s.repo, have: value }), 400, 'INVALID_HAVE', message);
const device = (name: string, value: unknown): Row<HostileStack> => row(`deviceId ${name}`, (s) => ({ url: s.repo, deviceId: value }), 400, 'INVALID_DEVICE_ID', /Expected `deviceId` to be 1-128 characters of/);

const HEX40 = 'a'.repeat(40);
const LIST = /a list of at most 1000 object ids/;
const OID = /full object id \(40 or 64 hex digits\)/;

const rows: Row<HostileStack>[] = [
  format('rar', 'rar'),
  format('ZIP in capitals', 'ZIP'),
  format('with a trailing space', 'zip '),
  format('tar (no compression)', 'tar'),
  format('with a path', '../zip'),
  format('with a NUL', 'zip\u0000'),
  format('as --format= injection', '--format=tar --output=/tmp/x'),
  format('as a number', 7),
  format('as an object', { zip: true }),
  row('format bundle on an archive', (s) => ({ url: s.repo, format: 'bundle' }), 400, 'INVALID_FORMAT', /Expected `format`/),
  row('format zip on a bundle', (s) => ({ kind: 'bundle', url: s.repo, format: 'zip' }), 400, 'INVALID_FORMAT', /A bundle job has no `format`/),
  kind('tarball', 'tarball'),
  kind('ARCHIVE in capitals', 'ARCHIVE'),
  kind('empty', ''),
  kind('__proto__', '__proto__'),
  kind('constructor', 'constructor'),
  kind('a number', 7),
  kind('a list', ['archive']),
  kind('null', null),
  have('not a list', HEX40, LIST),
  have('an object', { [HEX40]: true }, LIST),
  have('1001 ids', Array.from({ length: 1001 }, (_, i) => i.toString(16).padStart(40, '0')), LIST),
  have('not hex', ['z'.repeat(40)], OID),
  have('39 digits', ['a'.repeat(39)], OID),
  have('41 digits', ['a'.repeat(41)], OID),
  have('63 digits', ['a'.repeat(63)], OID),
  have('a short id', ['abc1234'], OID),
  have('a ref name', ['refs/heads/main'], OID),
  have('an option', ['--upload-pack=x'], OID),
  have('a number', [1234567], OID),
  have('null', [null], OID),
  have('an id with a newline', [`${HEX40}\n`], OID),
  row('have on an archive', (s) => ({ url: s.repo, have: [HEX40] }), 400, 'BAD_REQUEST', /for bundle jobs/),
  device('with a space', 'a b'),
  device('with a slash', 'a/b'),
  device('with a #', 'a#b'),
  device('as markup', '<script>alert(1)</script>'),
  device('with a newline', 'dev\nx-ca-deviceid: other'),
  device('of 129 characters', 'd'.repeat(129)),
  device('in another script', 'устройство'),
  device('as a number', 7),
  device('as a list', ['dev-1']),
  row('an unknown field', (s) => ({ url: s.repo, branch: 'main' }), 400, 'BAD_REQUEST', /Unknown field "branch": expected kind, url, ref, format, refs, have, deviceId/),
  row('__proto__ as a field', () => JSON.parse('{"url":"https://github.com/a/b","__proto__":{"kind":"file"}}') as Record<string, unknown>, 400, 'BAD_REQUEST', /Unknown field "__proto__"/),
  row('constructor as a field', (s) => ({ url: s.repo, constructor: 'x' }), 400, 'BAD_REQUEST', /Unknown field "constructor"/),
];

hostileTable('hostile formats, kinds, haves, device ids and fields', rows, () => stage.stage());
