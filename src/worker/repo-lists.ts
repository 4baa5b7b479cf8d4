// FERRY_ALLOWED_REPOS / FERRY_DENIED_REPOS: which repositories a deployment serves, beyond which hosts. Checked
// for every kind when a job is submitted, when its event is bound and when a clone lists refs.
import { FerryError } from '../protocol/errors.js';
import type { FileTarget } from '../protocol/file-url.js';
import { safeDecode } from '../util/safe-decode.js';

/** `owner`, `owner/repo`, `*\/repo`, each optionally after a host (`host/owner/repo`); `*` matches any one name. */
export interface RepoPattern {
  /** Absent: every allowed host. */
  host?: string;
  owner: string;
  repo: string;
  /** As the operator wrote it, for messages. */
  text: string;
}

export interface RepoLists {
  /** Undefined: every repository (on an allowed host) is allowed. */
  allowed: readonly RepoPattern[] | undefined;
  denied: readonly RepoPattern[];
}

/** A repository as the lists see it: owner is the first path segment, repo the last (GitLab's subgroups between). */
export interface RepoName {
  host: string;
  owner: string;
  repo: string;
}

const NAME = /^(?:\*|[a-z0-9_.][a-z0-9_.-]*)$/;
const HOST = /^[a-z0-9.-]+(?::\d{1,5})?$/;

/** Parses one variable's comma list; a bad entry stops the worker at start, naming it. */
export function parseRepoPatterns(variable: string, value: string | undefined): RepoPattern[] | undefined {
  const entries = value?.split(',').map((entry) => entry.trim().toLowerCase()).filter(Boolean);
  if (!entries || entries.length === 0) return undefined;
  return entries.map((text) => {
    const parts = text.split('/');
    // Three parts: the first is a host. One: an owner (all its repositories). Two: owner/repo.
    const [host, owner, repo] = parts.length === 3 ? parts : [undefined, parts[0], parts[1] ?? '*'];
    const bad = parts.length > 3 || owner === undefined || repo === undefined || !NAME.test(owner) || !NAME.test(repo) || (host !== undefined && !HOST.test(host));
    if (bad || (owner === '*' && repo === '*')) {
      throw new Error(`Expected ${variable} to be a comma list of owner, owner/repo, */repo or host/owner/repo (a name or *, not both *), got ${JSON.stringify(text)}`);
    }
    return { ...(host !== undefined && { host }), owner, repo, text };
  });
}

/** The repository a repository URL's segments name on `host`. */
export function repoNameOf(host: string, segments: readonly string[]): RepoName {
  return { host: host.toLowerCase(), owner: (segments[0] ?? '').toLowerCase(), repo: (segments[segments.length - 1] ?? '').toLowerCase() };
}

// File hosts that serve one forge's repositories under `/<owner>/<repo>/…`: their files belong to that forge's repository.
const FILE_HOST_FORGE: Record<string, string> = {
  'raw.githubusercontent.com': 'github.com',
  'codeload.github.com': 'github.com',
  'gist.githubusercontent.com': 'gist.github.com',
};

/**
 * The repository a file belongs to, from its normalised URL (file-url.ts writes every forge shape as
 * `<origin>/<owner>/<repo>/…`, GitLab's as `<origin>/<group>/…/<project>/-/…`); a gist is `<user>/<gist id>`.
 * A `plain` file (any other URL on an allowed host) belongs to no repository: undefined.
 */
export function repoNameOfFile(target: FileTarget): RepoName | undefined {
  if (target.shape === 'plain') return undefined;
  const url = new URL(target.url);
  const segments = url.pathname.split('/').filter(Boolean).map(safeDecode);
  const dash = segments.indexOf('-');
  const project = dash > 0 ? segments.slice(0, dash) : segments.slice(0, 2);
  if (project.length < 2) return undefined;
  const host = url.host.toLowerCase();
  return repoNameOf(FILE_HOST_FORGE[host] ?? host, project);
}

/**
 * Deny wins over allow. With an allow list set, a file that belongs to no repository is refused too: the list
 * says "only these". `subject` names what was asked for in the message.
 */
export function assertRepoAllowed(name: RepoName | undefined, lists: RepoLists, subject: string): void {
  const denied = name && lists.denied.find((pattern) => matches(pattern, name));
  if (denied) {
    throw new FerryError('REPO_NOT_ALLOWED', `${subject} is refused by this service's FERRY_DENIED_REPOS (entry "${denied.text}").`);
  }
  if (!lists.allowed || (name && lists.allowed.some((pattern) => matches(pattern, name)))) return;
  const shown = lists.allowed.map((pattern) => pattern.text).join(', ');
  throw new FerryError(
    'REPO_NOT_ALLOWED',
    name
      ? `${subject} is not on this service's FERRY_ALLOWED_REPOS (${shown}).`
      : `${subject} belongs to no repository, and this service serves only the repositories on its FERRY_ALLOWED_REPOS (${shown}).`,
  );
}

function matches(pattern: RepoPattern, name: RepoName): boolean {
  return (
    (pattern.host === undefined || pattern.host === name.host) &&
    (pattern.owner === '*' || pattern.owner === name.owner) &&
    (pattern.repo === '*' || pattern.repo === name.repo)
  );
}
