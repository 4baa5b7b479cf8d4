import { OssError } from './errors.js';

/** One query parameter as it appeared on the wire; `hasEquals` tells `?uploads` from `?uploads=`. */
export interface QueryParam {
  name: string;
  value: string;
  hasEquals: boolean;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new OssError(400, 'InvalidURI', 'Could not parse the specified URI.');
  }
}

/** Parses the raw query string, keeping order, duplicates and empty values (signatures depend on all three). */
export function parseQuery(raw: string): QueryParam[] {
  if (raw === '') return [];
  return raw
    .split('&')
    .filter((piece) => piece !== '')
    .map((piece) => {
      const eq = piece.indexOf('=');
      return eq === -1
        ? { name: decode(piece), value: '', hasEquals: false }
        : { name: decode(piece.slice(0, eq)), value: decode(piece.slice(eq + 1)), hasEquals: true };
    });
}

export function queryGet(query: readonly QueryParam[], name: string): string | undefined {
  return query.find((param) => param.name === name)?.value;
}

export function queryHas(query: readonly QueryParam[], name: string): boolean {
  return query.some((param) => param.name === name);
}
