// Which file a forge URL names, and where its bytes are. Imported by the worker, the CLI and the web page
// (in the browser), so nothing here may import node: modules.
import { plain, readShape, type Parsed } from './_file-shapes.js';
import { FerryError } from './errors.js';

export { safeFilename } from './_file-shapes.js';

export type Forge = 'github' | 'gitlab' | 'gitea' | 'gitee'; // gitea covers codeberg.org
export type FileShape = 'release-asset' | 'raw' | 'archive' | 'gist' | 'plain';

export interface FileTarget {
  /** What to fetch first: a /blob/ link already rewritten to its raw form; https (or http when allowed) only. */
  url: string;
  shape: FileShape;
  /** The name to save as: the last path segment, decoded and made safe (no slashes, no leading dot); `<repo>-<tag>.tar.gz` for /archive/. */
  filename: string;
  /** The bytes can never change: release assets, archives of a tag or a full commit id, raw files at a full commit id, gist revisions. */
  immutable: boolean;
}

export interface FileUrlOptions {
  /** Extra hosts and the forge whose URL shapes they use (`git.example.com` → 'gitlab'); the worker's FERRY_FORGES. */
  forges?: ReadonlyMap<string, Forge>;
  /** Unknown shapes on unknown hosts become `plain` instead of undefined (the worker's kind `file` does this). */
  plain?: boolean;
}

/** Hosts a file job may start at or be redirected to unless FERRY_FILE_HOSTS says otherwise. */
export const DEFAULT_FILE_HOSTS: readonly string[] = [
  'github.com',
  'raw.githubusercontent.com',
  'gist.github.com',
  'gist.githubusercontent.com',
  'objects.githubusercontent.com',
  'release-assets.githubusercontent.com',
  'codeload.github.com',
  'gitlab.com',
  'gitee.com',
  'codeberg.org',
  'bitbucket.org',
];

const MAX_URL_LENGTH = 2048;
const BUILTIN_FORGES: ReadonlyMap<string, Forge> = new Map<string, Forge>([
  ['github.com', 'github'],
  ['gitlab.com', 'gitlab'],
  ['gitee.com', 'gitee'],
  ['codeberg.org', 'gitea'],
]);
// Hosts that serve nothing but files: any URL on them is one, even without options.plain.
const FILE_ONLY_HOSTS = new Set(['objects.githubusercontent.com', 'release-assets.githubusercontent.com']);

/**
 * The file a URL names, or undefined when it names a repository (`github.com/o/r`, `…/o/r.git`, `…/tree/x`,
 * `…/commit/<sha>`) — the client's choice between kind `file` and an archive. Throws FerryError('INVALID_URL', …)
 * for URLs that are not http(s), carry credentials, are too long (> 2048), or contain control characters.
 */
export function parseFileUrl(input: string, options: FileUrlOptions = {}): FileTarget | undefined {
  const raw = validate(input);
  // `git@host:owner/repo.git` is how git spells a repository; never a file.
  if (/^[\w.-]+@[^:/]+:/.test(raw)) return undefined;
  const url = toUrl(raw);
  const host = url.host.toLowerCase(); // URL already drops default ports
  const parsed: Parsed = {
    url,
    host,
    segments: url.pathname.split('/').filter((segment) => segment !== ''),
    origin: `${url.protocol}//${host}`,
  };
  const verdict = readShape(parsed, forgeOf(url, options.forges));
  if (verdict === 'repository') return undefined;
  if (verdict) return verdict;
  if (FILE_ONLY_HOSTS.has(host) || options.plain) {
    // A repository spelled with .git is still a repository, wherever it lives.
    if (/\.git\/?$/i.test(url.pathname)) return undefined;
    return plain(parsed);
  }
  return undefined;
}

function validate(input: unknown): string {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new FerryError('INVALID_URL', 'Expected `url` to be a file URL such as https://github.com/owner/repo/releases/download/v1.0/app.tar.gz.');
  }
  const raw = input.trim();
  if (raw.length > MAX_URL_LENGTH) {
    throw new FerryError('INVALID_URL', `The URL is longer than ${MAX_URL_LENGTH} characters.`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f\\]/.test(raw)) {
    throw new FerryError('INVALID_URL', 'The URL contains spaces, backslashes or control characters: %-encode them.');
  }
  return raw;
}

function toUrl(raw: string): URL {
  const candidate = /^[a-z][a-z0-9+.-]*:/i.test(raw) && !/^[^:/]+:\d/.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new FerryError('INVALID_URL', `"${raw}" is not a URL. Expected something like https://github.com/owner/repo/releases/download/v1.0/app.tar.gz.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new FerryError('INVALID_URL', `Only https:// URLs are fetched, got ${url.protocol}//.`);
  }
  if (url.username || url.password) {
    throw new FerryError('INVALID_URL', 'Remove the user name or token from the URL: ferry only fetches public files.');
  }
  if (url.hostname === '') throw new FerryError('INVALID_URL', `"${raw}" names no host.`);
  return url;
}

function forgeOf(url: URL, extra: ReadonlyMap<string, Forge> | undefined): Forge | undefined {
  const host = url.host.toLowerCase();
  const hostname = url.hostname.toLowerCase();
  return BUILTIN_FORGES.get(host) ?? extra?.get(host) ?? extra?.get(hostname);
}
