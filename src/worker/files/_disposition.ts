import { safeFilename } from '../../protocol/file-url.js';

/**
 * The file name a `Content-Disposition` header gives (RFC 6266): `filename*=UTF-8''…` wins over `filename=`,
 * as it can carry any character. Made safe to create on disk; undefined when the header names none.
 */
export function filenameFromDisposition(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*([^;]+)/i.exec(header)?.[1];
  const fromExtended = extended === undefined ? undefined : decodeExtended(extended.trim());
  if (fromExtended) return safeFilename(fromExtended);
  const match = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header);
  const value = match?.[1]?.replace(/\\(.)/g, '$1') ?? match?.[2]?.trim();
  return value ? safeFilename(value) : undefined;
}

/** `charset'language'%-encoded` (RFC 8187); only UTF-8 and ISO-8859-1 are defined, anything else is ignored. */
function decodeExtended(value: string): string | undefined {
  const match = /^([\w!#$%&+^`{}~-]+)'[^']*'(.*)$/.exec(value.replace(/^"(.*)"$/, '$1'));
  if (!match) return undefined;
  const [, charset = '', encoded = ''] = match;
  try {
    if (charset.toLowerCase() === 'utf-8') return decodeURIComponent(encoded);
    if (charset.toLowerCase() === 'iso-8859-1') {
      return encoded.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  } catch {
    // a malformed %-escape: fall back to filename=
  }
  return undefined;
}
