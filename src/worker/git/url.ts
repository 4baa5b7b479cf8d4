import { FerryError } from '../../protocol/errors.js';

/** A repository URL after validation: one repo, one spelling. */
export interface RepoRef {
  /** `https://github.com/owner/repo` — what users see and what the cache key derives from. */
  canonical: string;
  fetchUrl: string;
  protocol: 'https' | 'http';
  /** Lower-case host, with `:port` only when it is not the protocol's default. */
  host: string;
  segments: string[];
  /** Names files (`repo-abc1234.zip`). */
  name: string;
}

export interface HostPolicy {
  allowedHosts: readonly string[];
  allowHttp: boolean;
}

// Hosts whose owner/repo paths are case-insensitive: `GitHub.com/Owner/Repo` is `github.com/owner/repo`.
const CASE_INSENSITIVE_HOSTS = new Set(['github.com', 'gitlab.com', 'gitee.com', 'bitbucket.org', 'codeberg.org']);
// Hosts where a repository is exactly `owner/repo`; anything after it (`/tree/main`) is a web page.
const TWO_SEGMENT_HOSTS = new Set(['github.com', 'gitee.com', 'bitbucket.org', 'codeberg.org']);
const SEGMENT = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;
const MAX_URL_LENGTH = 512;

/** Accepts `https://host/owner/repo[.git][/]`, `host/owner/repo` and `git@host:owner/repo.git`. */
export function parseRepoUrl(input: unknown, policy: HostPolicy): RepoRef {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new FerryError('INVALID_URL', 'Expected `url` to be a repository URL such as https://github.com/owner/repo.');
  }
  const raw = input.trim();
  if (raw.length > MAX_URL_LENGTH) {
    throw new FerryError('INVALID_URL', `The repository URL is longer than ${MAX_URL_LENGTH} characters.`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f\\]/.test(raw)) {
    throw new FerryError('INVALID_URL', 'The repository URL contains spaces, backslashes or control characters.');
  }
  const url = toUrl(raw);
  const protocol = url.protocol.slice(0, -1);
  if (protocol !== 'https' && protocol !== 'http') {
    throw new FerryError('INVALID_URL', `Only https:// repository URLs are supported, got ${url.protocol}//.`);
  }
  if (protocol === 'http' && !policy.allowHttp) {
    throw new FerryError('INVALID_URL', 'Plain http:// is not allowed: use https:// (operators can set FERRY_ALLOW_HTTP=1).');
  }
  if (url.username || url.password) {
    throw new FerryError('INVALID_URL', 'Remove the user name or token from the URL: ferry only fetches public repositories.');
  }
  if (url.search || url.hash) {
    throw new FerryError('INVALID_URL', 'Remove the query string or #fragment from the repository URL.');
  }
  const host = url.host.toLowerCase(); // URL drops default ports already
  if (!isHostAllowed(host, policy.allowedHosts)) {
    throw new FerryError(
      'HOST_NOT_ALLOWED',
      `Repositories on ${host} are not served here. Allowed hosts: ${policy.allowedHosts.join(', ')}.`,
    );
  }
  const segments = repoSegments(url.pathname, url.hostname.toLowerCase());
  const canonicalSegments = CASE_INSENSITIVE_HOSTS.has(host) ? segments.map((s) => s.toLowerCase()) : segments;
  const canonical = `${protocol}://${host}/${canonicalSegments.join('/')}`;
  return {
    canonical,
    fetchUrl: `${protocol}://${host}/${segments.join('/')}.git`,
    protocol,
    host,
    segments: canonicalSegments,
    name: segments[segments.length - 1] as string,
  };
}

function toUrl(raw: string): URL {
  // scp-like `git@github.com:owner/repo.git` means the same repository over https.
  const scp = /^git@([^:/]+):(.+)$/.exec(raw);
  const candidate = scp ? `https://${scp[1]}/${scp[2]}` : /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  try {
    return new URL(candidate);
  } catch {
    throw new FerryError('INVALID_URL', `"${raw}" is not a URL. Expected something like https://github.com/owner/repo.`);
  }
}

function repoSegments(pathname: string, hostname: string): string[] {
  let segments: string[];
  try {
    segments = pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  } catch {
    throw new FerryError('INVALID_URL', 'The repository path has a malformed %-escape.');
  }
  if (TWO_SEGMENT_HOSTS.has(hostname) && segments.length > 2) segments = segments.slice(0, 2);
  const last = segments.length - 1;
  if (last >= 0) segments[last] = (segments[last] as string).replace(/\.git$/i, '');
  if (segments.length < (TWO_SEGMENT_HOSTS.has(hostname) ? 2 : 1)) {
    throw new FerryError('INVALID_URL', 'The URL names no repository. Expected https://host/owner/repo.');
  }
  for (const segment of segments) {
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..' || segment.length > 100) {
      throw new FerryError('INVALID_URL', `"${segment}" is not a valid owner or repository name.`);
    }
  }
  return segments;
}

/** `host` is `name` or `name:port`; an allow-list entry without a port matches only the default port. */
function isHostAllowed(host: string, allowedHosts: readonly string[]): boolean {
  return allowedHosts.some((entry) => entry.toLowerCase() === host);
}
