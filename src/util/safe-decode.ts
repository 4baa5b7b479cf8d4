/**
 * A %-escaped URL path segment, decoded; a malformed escape (`%zz`, a lone `%`) is kept as written rather than
 * thrown as a URIError, for callers to whom a segment is only a name to match or show.
 */
export function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
