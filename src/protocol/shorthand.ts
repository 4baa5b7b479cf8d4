// `owner/repo` without a scheme is GitHub's, for the worker, the CLI and the page alike. No Node APIs: the
// page imports the compiled module.

const OWNER = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
const REPO = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;

/**
 * `https://github.com/<input>` when `input` is GitHub's shorthand: `owner/repo` (a trailing slash allowed),
 * or with `deep`, `owner/repo/<page…>` too (`owner/repo/tree/dev`, `owner/repo/releases/download/…`).
 * Undefined for anything with a scheme, `git@`, or a first segment that could be a host (a dot, a port,
 * `localhost`).
 */
export function expandShorthand(input: string, options: { deep?: boolean } = {}): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input) || input.startsWith('git@')) return undefined;
  const segments = input.replace(/\/$/, '').split('/');
  const [owner = '', repo = ''] = segments;
  if (!OWNER.test(owner) || owner === 'localhost' || !REPO.test(repo)) return undefined;
  if (segments.length > 2 && !options.deep) return undefined;
  return `https://github.com/${input}`;
}
