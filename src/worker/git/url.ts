import { FerryError } from '../../protocol/errors.js';
import type { RepoAccess } from './access.js';
import { expandShorthand } from '../../protocol/shorthand.js';
import { parseFileUrl, type Forge } from '../../protocol/file-url.js';

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
  /** What the URL names beyond the repository: `/tree/<ref>[/<path>]` or `/commit/<id>`. */
  refHint?: RefHint;
  /** A private repository's token (git/access.ts): its scope names mirrors, caches and objects; absent for public ones. */
  access?: RepoAccess;
}

/**
 * `tree`: the segments after `/tree/`, a ref that may itself hold slashes and then a path in the tree;
 * which prefix is the ref is only known from the remote's refs (tree-ref.ts). `commit`: a full commit id.
 */
export type RefHint = { kind: 'tree'; segments: string[] } | { kind: 'commit'; commit: string };

export interface HostPolicy {
  allowedHosts: readonly string[];
  allowHttp: boolean;
  /** Extra forge hosts (FERRY_FORGES): their file-shaped URLs are refused like github.com's. */
  forges?: ReadonlyMap<string, Forge>;
}

// Hosts whose owner/repo paths are case-insensitive: `GitHub.com/Owner/Repo` is `github.com/owner/repo`.
const CASE_INSENSITIVE_HOSTS = new Set(['github.com', 'gitlab.com', 'gitee.com', 'bitbucket.org', 'codeberg.org']);
// Hosts where a repository is exactly `owner/repo`; anything after it (`/tree/main`) is a web page.
const TWO_SEGMENT_HOSTS = new Set(['github.com', 'gitee.com', 'bitbucket.org', 'codeberg.org']);
const SEGMENT = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;
const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
const MAX_URL_LENGTH = 512;

/**
 * Accepts `https://host/owner/repo[.git][/]`, `host/owner/repo`, `git@host:owner/repo.git` and `owner/repo`
 * (github.com); `…/tree/<ref>[/<path>]` and `…/commit/<id>` set `refHint`; file links (`/blob/`, `/raw/`,
 * `/releases/download/`) are refused: they are files, for kind `file`.
 */
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
    throw new FerryError('INVALID_URL', 'Plain http:// is not allowed: use https://. To allow it: --allow-http for ferry get and ferry serve, FERRY_ALLOW_HTTP=1 for a deployed worker.');
  }
  if (url.username || url.password) {
    throw new FerryError('INVALID_URL', 'Remove the user name or token from the URL: for a private repository, send the token in the `token` field or the x-ferry-git-token header (ferry get and git-remote-ferry read FERRY_GIT_TOKEN).');
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
  const file = parseFileUrl(url.href, { ...(policy.forges && { forges: policy.forges }) });
  if (file) {
    throw new FerryError(
      'INVALID_URL',
      `${raw} is a file (${FILE_WORDS[file.shape]}), not a repository: fetch it as a file (ferry get does so by itself; the API takes {"kind":"file","url":…}).`,
    );
  }
  const { segments, refHint } = repoSegments(url.pathname, url.hostname.toLowerCase());
  const canonicalSegments = CASE_INSENSITIVE_HOSTS.has(host) ? segments.map((s) => s.toLowerCase()) : segments;
  const canonical = `${protocol}://${host}/${canonicalSegments.join('/')}`;
  return {
    canonical,
    fetchUrl: `${protocol}://${host}/${segments.join('/')}.git`,
    protocol,
    host,
    segments: canonicalSegments,
    name: segments[segments.length - 1] as string,
    ...(refHint && { refHint }),
  };
}

const FILE_WORDS = {
  'release-asset': 'a release asset',
  raw: 'a file in the repository',
  archive: 'a source archive',
  gist: 'a gist file',
  plain: 'a file',
} as const;

function toUrl(raw: string): URL {
  // scp-like `git@github.com:owner/repo.git` means the same repository over https.
  const scp = /^git@([^:/]+):(.+)$/.exec(raw);
  const candidate = scp
    ? `https://${scp[1]}/${scp[2]}`
    : /^[a-z][a-z0-9+.-]*:\/\//i.test(raw)
      ? raw
      : (expandShorthand(raw) ?? `https://${raw}`);
  try {
    return new URL(candidate);
  } catch {
    throw new FerryError('INVALID_URL', `"${raw}" is not a URL. Expected something like https://github.com/owner/repo.`);
  }
}

function repoSegments(pathname: string, hostname: string): { segments: string[]; refHint: RefHint | undefined } {
  let all: string[];
  try {
    all = pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  } catch {
    throw new FerryError('INVALID_URL', 'The repository path has a malformed %-escape.');
  }
  const { segments, rest } = splitPage(all, hostname);
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
  return { segments, refHint: refHintOf(rest) };
}

/**
 * The repository's segments and the page's (`tree/main/lib`). On two-segment hosts everything after
 * owner/repo is a page; GitLab separates pages with `/-/`; elsewhere only `owner/repo/tree|commit/…`
 * is read as a page (a repository path may be deeper on those hosts).
 */
function splitPage(all: string[], hostname: string): { segments: string[]; rest: string[] } {
  const dash = all.indexOf('-');
  if (dash > 0) return { segments: all.slice(0, dash), rest: all.slice(dash + 1) };
  if (TWO_SEGMENT_HOSTS.has(hostname)) return { segments: all.slice(0, 2), rest: all.slice(2) };
  if (all.length > 3 && (all[2] === 'tree' || all[2] === 'commit')) return { segments: all.slice(0, 2), rest: all.slice(2) };
  return { segments: all, rest: [] };
}

// Other pages (issues, pulls, releases, …) name no version: they stand for the repository.
function refHintOf(rest: string[]): RefHint | undefined {
  const [page, first, ...more] = rest;
  if (page === 'tree' && first !== undefined) return { kind: 'tree', segments: [first, ...more] };
  if (page !== 'commit' || first === undefined) return undefined;
  if (COMMIT_ID.test(first) && more.length === 0) return { kind: 'commit', commit: first.toLowerCase() };
  if (/^[0-9a-f]{4,39}$/i.test(first)) {
    throw new FerryError('INVALID_REF', `/commit/${first} is a short commit id, which cannot be resolved remotely: paste the full 40-character id (the commit page shows it).`);
  }
  throw new FerryError('INVALID_URL', `/commit/${rest.slice(1).join('/').slice(0, 80)} does not name a commit: expected /commit/<full 40-character id>.`);
}

/** `host` is `name` or `name:port`; an allow-list entry without a port matches only the default port. */
function isHostAllowed(host: string, allowedHosts: readonly string[]): boolean {
  return allowedHosts.some((entry) => entry.toLowerCase() === host);
}
