import type { Command } from 'commander';
import { FerryError } from '../../protocol/errors.js';
import { addEndpointOptions, endpointFromFlags, type EndpointFlags } from '../endpoint-flags.js';
import { FERRY_PREFIX, plainUrl, runGitWithView } from '../git-through-ferry.js';
import { runGit } from '../remote-helper/git.js';
import { examples, usageError } from '../options.js';

interface PullFlags extends EndpointFlags {
  rebase?: boolean;
  ffOnly?: boolean;
  quiet?: boolean;
  json?: boolean;
}

export function registerPull(program: Command): void {
  addEndpointOptions(
    program
      .command('pull [remote] [refspec...]')
      .description("git pull through ferry, in any clone of an https remote: only the new objects come, as a bundle from OSS; git's pull config applies as usual.")
      .option('--rebase', 'rebase the current branch on top of the upstream branch after fetching')
      .option('--ff-only', 'refuse to merge; only fast-forward')
      .option('-q, --quiet', 'no progress')
      .option('--json', "print ferry's events as JSON lines on stdout (git's own messages stay on stderr)")
      .addHelpText('after', examples(['ferry pull', 'ferry pull --rebase', 'ferry pull origin main'])),
  ).action(async (remoteArg: string | undefined, refspecs: string[], flags: PullFlags) => {
    const cwd = process.cwd();
    await runGit(['rev-parse', '--git-dir'], { cwd }).catch(() => {
      throw usageError('not inside a git repository: run `ferry pull` in a clone (or `ferry clone <url>` to make one)');
    });
    const remote = remoteArg ?? (await upstreamRemote(cwd));
    const url = await runGit(['remote', 'get-url', remote], { cwd }).then((out) => out.trim()).catch(() => {
      throw usageError(`no remote named "${remote}" in this repository`);
    });
    const args = [...rewrite(remote, url), 'pull', ...(flags.rebase ? ['--rebase'] : []), ...(flags.ffOnly ? ['--ff-only'] : []), ...(flags.quiet ? ['--quiet'] : []), remote, ...refspecs];
    const code = await runGitWithView(args, await endpointFromFlags(flags, cwd), flags, cwd);
    if (code !== 0) throw new FerryError('GIT_FAILED', `git pull exited with code ${code}; its message is above.`);
  });
}

/** The remote the current branch pulls from, else origin. */
async function upstreamRemote(cwd: string): Promise<string> {
  const branch = await runGit(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd }).then((out) => out.trim()).catch(() => '');
  const remote = branch ? await runGit(['config', `branch.${branch}.remote`], { cwd }).then((out) => out.trim()).catch(() => '') : '';
  return remote || 'origin';
}

/**
 * A remote already on `ferry::` needs nothing; an https one is fetched through ferry for this one
 * command (`-c url.<ferry::url>.insteadOf=<url>`), leaving the clone's config as it was.
 */
function rewrite(remote: string, url: string): string[] {
  if (url.startsWith(FERRY_PREFIX)) return [];
  let upstream: string;
  try {
    upstream = plainUrl(url);
  } catch {
    throw usageError(`remote "${remote}" is ${url}; ferry fetches https:// repositories only`);
  }
  return ['-c', `url.${FERRY_PREFIX}${upstream}.insteadOf=${upstream}`];
}
