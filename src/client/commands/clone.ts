import type { Command } from 'commander';
import { basename, resolve } from 'node:path';
import { FerryError } from '../../protocol/errors.js';
import { isEmptyOrMissing } from '../empty-dir.js';
import { addEndpointOptions, endpointFromFlags, type EndpointFlags } from '../endpoint-flags.js';
import { examples, usageError } from '../options.js';
import { FERRY_PREFIX, plainUrl, runGitWithView } from '../git-through-ferry.js';
import { runGit } from '../remote-helper/git.js';

interface CloneFlags extends EndpointFlags {
  branch?: string;
  origin: string;
  quiet?: boolean;
  json?: boolean;
  depth?: string;
}

export function registerClone(program: Command): void {
  addEndpointOptions(
    program
      .command('clone <url> [dir]')
      .description('git clone through ferry: history, branches and tags come as bundles from OSS; origin fetches through ferry and pushes to <url>.')
      .option('-b, --branch <name>', 'check out this branch instead of the remote HEAD')
      .option('-o, --origin <name>', 'name of the remote', 'origin')
      .option('-q, --quiet', 'no progress')
      .option('--json', "print ferry's events as JSON lines on stdout (git's own messages stay on stderr)")
      .option('--depth <n>', 'not supported: a shallow clone through ferry is refused (use `ferry get` for one commit)')
      .addHelpText('after', examples([
        'ferry clone https://github.com/expressjs/express',
        'ferry clone https://github.com/vuejs/core vue -b minor',
        'git clone ferry::https://github.com/expressjs/express   # the same, through the remote helper',
      ])),
  ).action(async (url: string, dir: string | undefined, flags: CloneFlags) => {
    const upstream = plainUrl(url);
    if (flags.depth !== undefined) throw usageError(`--depth: ferry clones the whole history; for a snapshot of one commit use \`ferry get ${upstream}\``);
    const target = resolve(dir ?? defaultDirectory(upstream));
    const empty = await isEmptyOrMissing(target).catch((error: Error) => {
      throw usageError(`cannot clone into ${target}: ${error.message}`);
    });
    if (!empty) throw usageError(`destination path '${dir ?? basename(target)}' already exists and is not an empty directory`);

    const settings = await endpointFromFlags(flags);
    const args = ['clone', '--origin', flags.origin, ...(flags.branch ? ['--branch', flags.branch] : []), ...(flags.quiet ? ['--quiet'] : []), '--', `${FERRY_PREFIX}${upstream}`, target];
    const code = await runGitWithView(args, settings, flags);
    if (code !== 0) throw new FerryError('GIT_FAILED', `git clone exited with code ${code}; its message is above.`);
    // Pushes go straight to the real remote with git's own https transport: the worker never sees them.
    await runGit(['remote', 'set-url', '--push', flags.origin, upstream], { cwd: target });
    if (!flags.quiet && !flags.json) process.stderr.write(`Cloned ${upstream} into ${target} through ferry; \`${flags.origin}\` fetches through ferry and pushes to ${upstream}.\n`);
  });
}

/** git's own choice of directory: the last path segment without `.git`. */
function defaultDirectory(url: string): string {
  const name = basename(new URL(url).pathname.replace(/\/+$/, '')).replace(/\.git$/, '');
  if (!name || name === '.' || name === '..') throw usageError(`cannot derive a directory name from ${url}; give one`);
  return name;
}
