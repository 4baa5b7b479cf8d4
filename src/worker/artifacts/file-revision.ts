import type { FileTarget } from '../../protocol/file-url.js';
import { safeDecode } from '../../util/safe-decode.js';
import type { ResolvedRef } from '../../protocol/refs.js';

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
const ARCHIVE_EXTENSION = /\.(?:tar\.gz|tgz|tar\.bz2|tar|zip)$/i;

/**
 * The revision a file URL names, for the done message's `commit` and `ref`: a full commit id anywhere in
 * its path, the tag of a release asset (`…/releases/download/<tag>/…`), the ref of a source archive
 * (`…/archive/refs/tags/<tag>.tar.gz`, `…/archive/<ref>.zip`, GitLab's `…/-/archive/<ref>/…`, codeload's
 * `…/tar.gz/<ref>`); '' when
 * the URL says nothing. Read from the URL only: no request upstream.
 */
export function fileRevision(target: FileTarget): ResolvedRef {
  const segments = pathSegments(target.url);
  const ref = namedRef(target, segments);
  // An archive of a commit id names the commit, not a ref.
  if (OID.test(ref)) return { ref: '', commit: ref.toLowerCase() };
  return { ref, commit: segments.find((segment) => OID.test(segment))?.toLowerCase() ?? '' };
}

function namedRef(target: FileTarget, segments: string[]): string {
  // codeload.github.com/<owner>/<repo>/<tar.gz|zip>/<ref>: where github.com's /archive/ redirects.
  if (target.shape === 'archive' && new URL(target.url).host === 'codeload.github.com') {
    return segments.slice(3).join('/').replace(/^refs\/(?:tags|heads)\//, '');
  }
  if (target.shape === 'release-asset') {
    const at = segments.indexOf('download');
    return at >= 0 && at + 2 < segments.length ? (segments[at + 1] ?? '') : '';
  }
  if (target.shape === 'archive') {
    const at = segments.lastIndexOf('archive');
    if (at < 0) return '';
    const rest = segments.slice(at + 1);
    // GitLab: /-/archive/<ref>/<repo>-<ref>.tar.gz
    if (segments[at - 1] === '-' && rest.length >= 2) return rest[0] ?? '';
    const named = rest.join('/').replace(ARCHIVE_EXTENSION, '');
    return named.replace(/^refs\/(?:tags|heads)\//, '');
  }
  return '';
}

function pathSegments(url: string): string[] {
  return new URL(url).pathname.split('/').filter(Boolean).map(safeDecode);
}
