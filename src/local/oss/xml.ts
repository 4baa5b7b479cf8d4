import { malformedXml } from './errors.js';

/** A node for `renderXml`: text, or an element with children. Undefined children are skipped. */
export type XmlNode = string | number | boolean | XmlElement[];
export type XmlElement = [name: string, content: XmlNode] | undefined;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[name] ?? '';
  });
}

function renderNode(name: string, content: XmlNode): string {
  if (Array.isArray(content)) {
    const inner = content.map((child) => (child === undefined ? '' : renderNode(child[0], child[1]))).join('');
    return `<${name}>${inner}</${name}>`;
  }
  return `<${name}>${escapeXml(String(content))}</${name}>`;
}

/** Renders a whole document with the declaration OSS puts on every XML body. */
export function renderXml(root: string, content: XmlNode): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${renderNode(root, content)}\n`;
}

export interface CompletePart {
  partNumber: number;
  etag: string;
}

/**
 * Parses a CompleteMultipartUpload body. This is the only XML the store reads, and its shape is fixed,
 * so a strict pattern match beats a general parser: anything that is not exactly `Part` elements with a
 * `PartNumber` and an `ETag` is MalformedXML.
 */
export function parseCompleteMultipart(body: string): CompletePart[] {
  const doc = body.replace(/^\uFEFF?\s*(<\?xml[^>]*\?>)?\s*/, '').trimEnd();
  const root = /^<CompleteMultipartUpload(\s[^>]*)?>([\s\S]*)<\/CompleteMultipartUpload>$/.exec(doc);
  if (!root) throw malformedXml();
  const inner = root[2] ?? '';
  const parts: CompletePart[] = [];
  const partPattern = /\s*<Part>\s*([\s\S]*?)\s*<\/Part>\s*/gy;
  let consumed = 0;
  for (let match = partPattern.exec(inner); match; match = partPattern.exec(inner)) {
    consumed = partPattern.lastIndex;
    parts.push(parsePart(match[1] ?? ''));
  }
  if (inner.slice(consumed).trim() !== '' || parts.length === 0) throw malformedXml();
  return parts;
}

function parsePart(inner: string): CompletePart {
  const fields = new Map<string, string>();
  const fieldPattern = /\s*<(\w+)>([^<]*)<\/\1>\s*/gy;
  let consumed = 0;
  for (let match = fieldPattern.exec(inner); match; match = fieldPattern.exec(inner)) {
    consumed = fieldPattern.lastIndex;
    fields.set(match[1] ?? '', unescapeXml(match[2] ?? '').trim());
  }
  const number = fields.get('PartNumber');
  const etag = fields.get('ETag');
  if (consumed !== inner.length || number === undefined || etag === undefined || !/^\d{1,5}$/.test(number)) {
    throw malformedXml();
  }
  return { partNumber: Number(number), etag };
}
