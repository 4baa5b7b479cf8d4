// `push` never goes through the worker: the refspecs are handed to `git push <real url>` in the
// repository git started us in, and its porcelain report is translated into the helper's status lines.
import { spawn } from 'node:child_process';
import type { HelperOptions } from './options.js';

/** One `push [+]<src>:<dst>` line's refspec, as given (a leading `+` forces that ref alone). */
export type PushRefspec = string;

export async function pushToRemote(url: string, refspecs: readonly PushRefspec[], options: HelperOptions): Promise<string[]> {
  const args = ['push', '--porcelain'];
  if (options.verbosity === 0) args.push('--quiet');
  for (let level = 1; level < options.verbosity; level++) args.push('--verbose');
  args.push(options.progress ? '--progress' : '--no-progress');
  if (options.dryRun) args.push('--dry-run');
  if (options.atomic) args.push('--atomic');
  for (const option of options.pushOptions) args.push(`--push-option=${option}`);
  args.push('--', url, ...refspecs);

  // stderr is the user's: git's own messages (hooks, hints, credentials prompts' errors) reach them as is.
  const child = spawn('git', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', resolve);
  });
  return pushStatusLines(refspecs, stdout, code);
}

/** The helper's `ok <dst>` / `error <dst> <why>` lines, one per refspec, from `git push --porcelain`. */
export function pushStatusLines(refspecs: readonly PushRefspec[], porcelain: string, exitCode: number | null): string[] {
  const reported = new Map<string, { flag: string; summary: string }>();
  for (const line of porcelain.split('\n')) {
    const [flag, refs, summary] = line.split('\t');
    if (flag === undefined || refs === undefined || summary === undefined || flag.length !== 1) continue;
    reported.set(refs.slice(refs.lastIndexOf(':') + 1), { flag, summary });
  }
  return refspecs.map((refspec) => {
    const dst = refspec.slice(refspec.lastIndexOf(':') + 1);
    const status = reported.get(dst);
    if (!status) return `error ${dst} ${exitCode === 0 ? 'not reported by git push' : 'git push failed'}`;
    if (status.flag === '=') return `ok ${dst} up to date`;
    if (status.flag === '+') return `ok ${dst} forced update`;
    if (status.flag !== '!') return `ok ${dst}`;
    return `error ${dst} ${rejectionReason(status.summary)}`;
  });
}

// git's transport reads a few reasons by name to print its usual hints ("fetch first", "non-fast forward").
function rejectionReason(summary: string): string {
  const reason = /\(([^)]*)\)\s*$/.exec(summary)?.[1] ?? summary;
  return reason === 'non-fast-forward' ? 'non-fast forward' : reason.replace(/[\r\n]+/g, ' ');
}
