import { invalidArgument } from './errors.js';
import { sendXml, type OssContext } from './http.js';
import { queryGet } from './query.js';
import type { ObjectMeta } from './types.js';
import type { XmlElement } from './xml.js';

const OWNER: XmlElement = ['Owner', [['ID', 'ferry-local'], ['DisplayName', 'ferry-local']]];

interface Page {
  contents: ObjectMeta[];
  prefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned: where the next page starts. */
  last: string | undefined;
}

/**
 * One page of a listing: keys after `after` under `prefix`, keys sharing the part up to the next
 * `delimiter` rolled into one common prefix. Prefixes and keys both count toward `maxKeys`.
 */
function listPage(all: readonly ObjectMeta[], prefix: string, after: string, delimiter: string, maxKeys: number): Page {
  const page: Page = { contents: [], prefixes: [], truncated: false, last: undefined };
  // UTF-8 byte order, as `all` is sorted (JS string order differs past U+FFFF).
  const afterBytes = Buffer.from(after);
  const isAfter = (text: string): boolean => Buffer.compare(Buffer.from(text), afterBytes) > 0;
  for (const meta of all) {
    if (!meta.key.startsWith(prefix) || !isAfter(meta.key)) continue;
    const cut = delimiter === '' ? -1 : meta.key.indexOf(delimiter, prefix.length);
    const common = cut === -1 ? undefined : meta.key.slice(0, cut + delimiter.length);
    // A prefix already returned (or ending the previous page at `after`) is not returned again.
    if (common !== undefined && (common === page.last || !isAfter(common))) continue;
    if (page.contents.length + page.prefixes.length >= maxKeys) {
      page.truncated = true;
      break;
    }
    if (common === undefined) page.contents.push(meta);
    else page.prefixes.push(common);
    page.last = common ?? meta.key;
  }
  return page;
}

function parseMaxKeys(ctx: OssContext): number {
  const text = queryGet(ctx.query, 'max-keys');
  if (text === undefined || text === '') return 100;
  const value = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0 && value <= 1000)) throw invalidArgument('max-keys must be an integer from 0 to 1000.', 'max-keys', text);
  return value;
}

/** `encoding-type=url` asks for keys and prefixes URL-encoded (keys may hold characters XML cannot). */
function encoder(ctx: OssContext): (text: string) => string {
  const type = queryGet(ctx.query, 'encoding-type');
  if (type === undefined || type === '') return (text) => text;
  if (type !== 'url') throw invalidArgument('encoding-type must be "url".', 'encoding-type', type);
  return (text) => encodeURIComponent(text).replace(/%2F/g, '/');
}

function contentsXml(page: Page, encode: (text: string) => string): XmlElement[] {
  return [
    ...page.contents.map((meta): XmlElement => [
      'Contents',
      [
        ['Key', encode(meta.key)],
        ['LastModified', meta.lastModified],
        ['ETag', meta.etag],
        ['Type', meta.type],
        ['Size', meta.size],
        ['StorageClass', 'Standard'],
        OWNER,
      ],
    ]),
    ...page.prefixes.map((prefix): XmlElement => ['CommonPrefixes', [['Prefix', encode(prefix)]]]),
  ];
}

/**
 * GetBucket (ListObjects, v1): prefix, marker, max-keys, delimiter, encoding-type. The worker lists a
 * build lease's generations, tests what a job left in the bucket; ListObjectsV2 (`list-type=2`) is not implemented.
 */
export async function listObjects(ctx: OssContext): Promise<void> {
  const { bucket } = ctx.address;
  await ctx.store.assertBucket(bucket);
  const prefix = queryGet(ctx.query, 'prefix') ?? '';
  const marker = queryGet(ctx.query, 'marker') ?? '';
  const delimiter = queryGet(ctx.query, 'delimiter') ?? '';
  const maxKeys = parseMaxKeys(ctx);
  const encode = encoder(ctx);
  const page = listPage(await ctx.store.all(bucket), prefix, marker, delimiter, maxKeys);
  sendXml(ctx.res, 200, 'ListBucketResult', [
    ['Name', bucket],
    ['Prefix', encode(prefix)],
    ['Marker', encode(marker)],
    ['MaxKeys', maxKeys],
    ['Delimiter', encode(delimiter)],
    queryGet(ctx.query, 'encoding-type') ? ['EncodingType', 'url'] : undefined,
    ['IsTruncated', page.truncated],
    page.truncated && page.last !== undefined ? ['NextMarker', encode(page.last)] : undefined,
    ...contentsXml(page, encode),
  ]);
}
