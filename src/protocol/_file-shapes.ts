// How each forge spells a file in its URLs: one reader per forge, each saying which file a path names, or that
// it is a page of a repository. Part of file-url.ts (and, like it, free of node: imports: the web page loads it).
import type { FileShape, FileTarget, Forge } from './file-url.js';
import { safeDecode } from '../util/safe-decode.js';

const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
const ARCHIVE_EXTENSION = /\.(tar\.gz|tgz|tar\.bz2|tar|zip)$/i;

/** What the shape readers see: the URL split once. `segments` stay %-encoded, as they go back into URLs. */
export interface Parsed {
  url: URL;
  host: string;
  segments: string[];
  /** `https://host` as typed (scheme and port kept). */
  origin: string;
}

/** A shape reader's verdict: a file, a repository page (`'repository'`), or not a shape it knows (undefined). */
export type Verdict = FileTarget | 'repository' | undefined;

export function readShape(parsed: Parsed, forge: Forge | undefined): Verdict {
  switch (parsed.host) {
    case 'raw.githubusercontent.com':
      return githubRaw(parsed);
    case 'codeload.github.com':
      return codeload(parsed);
    case 'gist.github.com':
    case 'gist.githubusercontent.com':
      return gist(parsed);
    case 'bitbucket.org':
      return bitbucket(parsed);
  }
  switch (forge) {
    case 'github':
      return github(parsed);
    case 'gitlab':
      return gitlab(parsed);
    case 'gitee':
      return gitee(parsed);
    case 'gitea':
      return gitea(parsed);
    case undefined:
      return undefined;
  }
}

// ---- GitHub ---------------------------------------------------------------------------------------

// Pages of a repository rather than files in it: the client makes an archive of the repository.
const GITHUB_REPOSITORY_PAGES = new Set(['tree', 'commit', 'commits', 'tags', 'branches', 'releases', 'compare', 'pull', 'pulls', 'issues']);

function github(p: Parsed): Verdict {
  const [owner, repo, kind, ...rest] = p.segments;
  if (owner === undefined || repo === undefined || kind === undefined) return 'repository';
  const base = `/${owner}/${repo}`;
  if (kind === 'releases' && rest[0] === 'download' && rest.length >= 3) {
    return target(`${p.origin}${base}/releases/${rest.join('/')}`, 'release-asset', lastName(rest), true);
  }
  // `releases/latest/download/<name>` follows the newest release: the same URL, new bytes.
  if (kind === 'releases' && rest[0] === 'latest' && rest[1] === 'download' && rest.length === 3) {
    return target(`${p.origin}${base}/releases/latest/download/${rest[2]}`, 'release-asset', lastName(rest), false);
  }
  if ((kind === 'blob' || kind === 'raw') && rest.length >= 2) {
    const immutable = COMMIT_ID.test(rest[0] as string);
    // github.com's raw links redirect to raw.githubusercontent.com: go there directly (one hop fewer);
    // an Enterprise host serves /raw/ itself. The cost: for a Git LFS file github.com would redirect to
    // media.githubusercontent.com instead, and raw.githubusercontent.com answers with the LFS pointer.
    const url =
      p.host === 'github.com'
        ? `https://raw.githubusercontent.com${base}/${rest.join('/')}`
        : `${p.origin}${base}/raw/${rest.join('/')}`;
    return target(url, 'raw', lastName(rest), immutable);
  }
  if (kind === 'archive' && rest.length >= 1) {
    return githubArchive(`${p.origin}${base}/archive/${rest.join('/')}`, repo, rest);
  }
  if (GITHUB_REPOSITORY_PAGES.has(kind) || /\.git$/i.test(repo)) return 'repository';
  return undefined;
}

/**
 * `archive/refs/tags/<tag>.tar.gz` and `archive/<commit id>.zip` never change. `archive/refs/heads/<b>.zip`
 * follows a branch, and a bare `archive/<name>.tar.gz` may be a branch as well as a tag (GitHub resolves it like
 * git does, and nothing in the URL says which): both are revalidated rather than trusted.
 */
function githubArchive(url: string, repo: string, rest: string[]): Verdict {
  const extension = ARCHIVE_EXTENSION.exec(rest[rest.length - 1] as string)?.[1];
  if (!extension) return undefined;
  const ref = safeDecode(rest.join('/').slice(0, -extension.length - 1));
  const tag = /^refs\/tags\/(.+)$/.exec(ref)?.[1];
  const head = /^refs\/heads\/(.+)$/.exec(ref)?.[1];
  const name = tag ?? head ?? ref;
  return target(url, 'archive', archiveName(repo, name, extension), tag !== undefined || COMMIT_ID.test(ref));
}

/** `raw.githubusercontent.com/<owner>/<repo>/<ref>/<path>`. */
function githubRaw(p: Parsed): Verdict {
  const [owner, repo, ref, ...path] = p.segments;
  if (owner === undefined || repo === undefined || ref === undefined || path.length === 0) return undefined;
  return target(`${p.origin}/${p.segments.join('/')}`, 'raw', lastName(path), COMMIT_ID.test(ref));
}

/** `codeload.github.com/<owner>/<repo>/tar.gz|zip/<ref>`: where github.com's /archive/ redirects. */
function codeload(p: Parsed): Verdict {
  const [, repo, format, ...ref] = p.segments;
  if (repo === undefined || format === undefined || ref.length === 0) return undefined;
  const extension = /^(?:legacy\.)?(tar\.gz|zip)$/.exec(format)?.[1];
  if (!extension) return undefined;
  const name = safeDecode(ref.join('/'));
  const tag = /^refs\/tags\/(.+)$/.exec(name)?.[1];
  const shown = tag ?? /^refs\/heads\/(.+)$/.exec(name)?.[1] ?? name;
  return target(`${p.origin}/${p.segments.join('/')}`, 'archive', archiveName(repo, shown, extension), tag !== undefined || COMMIT_ID.test(name));
}

/**
 * `gist.github.com/<user>/<id>` is the gist's page: its raw form is the first file at the newest revision.
 * `…/raw/<revision>/<file>` (on either host) names one revision for good.
 */
function gist(p: Parsed): Verdict {
  const [user, id, kind, ...rest] = p.segments;
  if (user === undefined || id === undefined) return 'repository';
  if (/\.git$/i.test(id)) return 'repository';
  if (kind === undefined) {
    if (p.host !== 'gist.github.com') return undefined;
    return target(`https://gist.githubusercontent.com/${user}/${id}/raw`, 'gist', safeFilename(safeDecode(id)), false);
  }
  // The page of one revision: `gist.github.com/<user>/<id>/<revision>`.
  if (COMMIT_ID.test(kind) && rest.length === 0 && p.host === 'gist.github.com') {
    return target(`https://gist.githubusercontent.com/${user}/${id}/raw/${kind}`, 'gist', safeFilename(safeDecode(id)), true);
  }
  if (kind !== 'raw') return undefined;
  const revision = rest[0] !== undefined && COMMIT_ID.test(rest[0]) ? rest[0] : undefined;
  const file = rest.length > (revision ? 1 : 0) ? lastName(rest) : safeFilename(safeDecode(id));
  return target(`${p.origin}/${p.segments.join('/')}`, 'gist', file, revision !== undefined);
}

// ---- GitLab: `<group>/<subgroup…>/<project>/-/<kind>/…` ------------------------------------------

const GITLAB_REPOSITORY_PAGES = new Set(['tree', 'commit', 'commits', 'tags', 'branches', 'releases', 'compare', 'merge_requests', 'issues']);

function gitlab(p: Parsed): Verdict {
  const dash = p.segments.indexOf('-');
  // Without `/-/` a GitLab path is a group or a project, however deep.
  if (dash < 0) return 'repository';
  const project = p.segments.slice(0, dash);
  const [kind, ...rest] = p.segments.slice(dash + 1);
  const repo = project[project.length - 1];
  if (project.length < 2 || repo === undefined || kind === undefined) return undefined;
  const base = `${p.origin}/${project.join('/')}/-`;
  if ((kind === 'blob' || kind === 'raw') && rest.length >= 2) {
    return target(`${base}/raw/${rest.join('/')}`, 'raw', lastName(rest), COMMIT_ID.test(rest[0] as string));
  }
  // `-/archive/<ref>/<project>-<ref>.tar.gz`: the ref may be a branch, so only a commit id is immutable.
  if (kind === 'archive' && rest.length >= 2 && ARCHIVE_EXTENSION.test(rest[rest.length - 1] as string)) {
    const ref = safeDecode(rest.slice(0, -1).join('/'));
    return target(`${base}/archive/${rest.join('/')}`, 'archive', lastName(rest), COMMIT_ID.test(ref));
  }
  if (kind === 'releases' && rest[1] === 'downloads' && rest.length >= 3) {
    return target(`${base}/releases/${rest.join('/')}`, 'release-asset', lastName(rest), true);
  }
  if (GITLAB_REPOSITORY_PAGES.has(kind)) return 'repository';
  return undefined;
}

// ---- Gitee -----------------------------------------------------------------------------------------

const GITEE_REPOSITORY_PAGES = new Set(['tree', 'commit', 'commits', 'tags', 'branches', 'releases', 'pulls', 'issues']);

function gitee(p: Parsed): Verdict {
  const [owner, repo, kind, ...rest] = p.segments;
  if (owner === undefined || repo === undefined || kind === undefined) return 'repository';
  const base = `${p.origin}/${owner}/${repo}`;
  if ((kind === 'blob' || kind === 'raw') && rest.length >= 2) {
    return target(`${base}/raw/${rest.join('/')}`, 'raw', lastName(rest), COMMIT_ID.test(rest[0] as string));
  }
  if (kind === 'releases' && rest[0] === 'download' && rest.length >= 3) {
    return target(`${base}/releases/${rest.join('/')}`, 'release-asset', lastName(rest), true);
  }
  if (kind === 'repository' && rest[0] === 'archive' && rest.length >= 2) {
    return refArchive(`${base}/repository/${rest.join('/')}`, repo, rest.slice(1));
  }
  if (GITEE_REPOSITORY_PAGES.has(kind) || /\.git$/i.test(repo)) return 'repository';
  return undefined;
}

// ---- Gitea / Forgejo (codeberg.org) ----------------------------------------------------------------

const GITEA_REPOSITORY_PAGES = new Set(['commit', 'commits', 'tags', 'branches', 'releases', 'compare', 'pulls', 'issues']);
const GITEA_REF_KINDS = new Set(['branch', 'tag', 'commit']);

function gitea(p: Parsed): Verdict {
  const [owner, repo, kind, ...rest] = p.segments;
  if (owner === undefined || repo === undefined || kind === undefined) return 'repository';
  const base = `${p.origin}/${owner}/${repo}`;
  if (kind === 'src' || kind === 'raw' || kind === 'media') {
    // `src/branch/main` alone is the repository's page; a file needs a path after the ref.
    const [refKind, ref] = rest;
    const typed = refKind !== undefined && GITEA_REF_KINDS.has(refKind);
    if (rest.length < (typed ? 3 : 2)) return kind === 'src' ? 'repository' : undefined;
    const immutable = typed ? refKind === 'commit' && COMMIT_ID.test(ref as string) : COMMIT_ID.test(refKind as string);
    // media/ serves LFS objects by their content, raw/ their pointer: keep whichever was asked for.
    const served = kind === 'media' ? 'media' : 'raw';
    return target(`${base}/${served}/${rest.join('/')}`, 'raw', lastName(rest), immutable);
  }
  if (kind === 'releases' && rest[0] === 'download' && rest.length >= 3) {
    return target(`${base}/releases/${rest.join('/')}`, 'release-asset', lastName(rest), true);
  }
  if (kind === 'archive' && rest.length >= 1) return refArchive(`${base}/archive/${rest.join('/')}`, repo, rest);
  if (GITEA_REPOSITORY_PAGES.has(kind) || /\.git$/i.test(repo)) return 'repository';
  return undefined;
}

// ---- Bitbucket: no Forge of its own, only the shapes people paste ------------------------------------

function bitbucket(p: Parsed): Verdict {
  const [workspace, repo, kind, ...rest] = p.segments;
  if (workspace === undefined || repo === undefined || kind === undefined) return 'repository';
  const base = `${p.origin}/${workspace}/${repo}`;
  if ((kind === 'src' || kind === 'raw') && rest.length >= 2) {
    return target(`${base}/raw/${rest.join('/')}`, 'raw', lastName(rest), COMMIT_ID.test(rest[0] as string));
  }
  if (kind === 'get' && rest.length >= 1) return refArchive(`${base}/get/${rest.join('/')}`, repo, rest);
  if (kind === 'downloads' && rest.length === 1) return plain(p);
  if (['src', 'commits', 'branches', 'pull-requests'].includes(kind) || /\.git$/i.test(repo)) return 'repository';
  return undefined;
}

// ---- shared ----------------------------------------------------------------------------------------

/** `…/<ref>.tar.gz` where the ref may be a branch: immutable only at a full commit id. */
function refArchive(url: string, repo: string, refPath: string[]): Verdict {
  const extension = ARCHIVE_EXTENSION.exec(refPath[refPath.length - 1] as string)?.[1];
  if (!extension) return undefined;
  const ref = safeDecode(refPath.join('/').slice(0, -extension.length - 1));
  return target(url, 'archive', archiveName(repo, ref, extension), COMMIT_ID.test(ref));
}

export function plain(p: Parsed): FileTarget {
  // Only here is the query kept: a plain URL may need it, the forge shapes are named by their path.
  const url = `${p.origin}${p.url.pathname}${p.url.search}`;
  const name = p.segments.length > 0 ? lastName(p.segments) : safeFilename(p.url.hostname);
  return { url, shape: 'plain', filename: name, immutable: false };
}

function target(url: string, shape: FileShape, filename: string, immutable: boolean): FileTarget {
  return { url, shape, filename, immutable };
}

function archiveName(repo: string, ref: string, extension: string): string {
  return safeFilename(`${safeDecode(repo).replace(/\.git$/i, '')}-${ref.replace(/\//g, '-')}.${extension}`);
}

function lastName(segments: readonly string[]): string {
  return safeFilename(safeDecode(segments[segments.length - 1] ?? ''));
}


/**
 * A name that is safe to create in any directory on any OS: no path separators, no leading dot (no hidden
 * or `..` files), no control or Windows-reserved characters, at most 200 characters; `download` if nothing is left.
 */
export function safeFilename(name: string): string {
  const cleaned = name
    // eslint-disable-next-line no-control-regex
    .replace(/[/\\\u0000-\u001f\u007f<>:"|?*]/g, '_')
    .trim()
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  const short = cleaned.length > 200 ? cleaned.slice(0, 200) : cleaned;
  return short === '' ? 'download' : short;
}
