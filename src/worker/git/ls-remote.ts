// `git ls-remote`, trusted only from a complete answer. A ref listing cut inside its HTTP headers or
// body can leave git printing nothing and exiting 0, which reads like an empty repository ("has no
// commits yet", 404). So git runs with a packet trace, and an empty listing counts only when the
// answer ended with its flush packet: after `command=ls-refs` (protocol v2), or the advertisement's own
// (v0). A listing that ended early is an upstream fault, tried again like a cut pack.
import { FerryError } from '../../protocol/errors.js';
import { parseLsRemote, type RemoteRef } from '../../protocol/refs.js';
import { markTransient, retryUpstream } from '../upstream-retry.js';
import type { GitContext } from './context.js';
import { gitFailure } from './errors.js';
import { pinRepo } from './pin.js';
import type { Pin } from '../net/destinations.js';
import { runGit } from './run-git.js';
import type { RepoRef } from './url.js';

export interface LsRemoteOptions {
  /** The SSRF guard's pin the caller already made for this listing: used by the first attempt. */
  pin?: Pin | undefined;
  signal?: AbortSignal | undefined;
}

export async function lsRemote(repo: RepoRef, patterns: readonly string[], context: GitContext, options: LsRemoteOptions = {}): Promise<RemoteRef[]> {
  const { signal } = options;
  await context.assertSupportedGit();
  const what = `Listing refs of ${repo.canonical}`;
  return retryUpstream(
    async (attempt) => {
      // Each retry checks the host again: a name that now resolves to an internal address is refused
      // (DESTINATION_FORBIDDEN, never retried), and curl connects only to what was checked.
      const pin = attempt === 1 && options.pin ? options.pin : await pinRepo(repo, context, what);
      const trace = new ListingTrace();
      let stdout: string;
      try {
        ({ stdout } = await runGit(['ls-remote', '--symref', '--', repo.fetchUrl, ...patterns], {
          git: context,
          signal,
          host: repo.host,
          pin,
          access: repo.access,
          env: { GIT_TRACE_PACKET: '2' },
          onStderr: (chunk) => trace.push(chunk),
        }));
      } catch (error) {
        throw error instanceof FerryError ? error : gitFailure(String((error as Error).message), what, error, repo.host);
      }
      const refs = parseLsRemote(stdout);
      if (refs.length === 0 && !trace.complete) {
        const message = `${what}: ${repo.host} ended its ref listing before it was complete, so its empty answer is not trusted. This is usually transient: try again.`;
        throw markTransient(new FerryError('UPSTREAM_TRUNCATED', message), 'cut the connection');
      }
      return refs;
    },
    {
      policy: context.retry,
      signal,
      onRetry: (notice) => context.log?.(`ls-remote: ${repo.canonical}: ${notice.message}: ${String((notice.error as Error).message)}`),
    },
  );
}

// `12:00:00.000000 pkt-line.c:86   packet:    ls-remote< 0000` (the remote helper traces as `git`: not ours).
const PACKET = /packet:\s+ls-remote([<>]) (.*)$/;

/** Reads git's packet trace: did the listing end with its flush packet? */
export class ListingTrace {
  #pending = '';
  #complete = false;

  get complete(): boolean {
    return this.#complete;
  }

  push(chunk: Buffer): void {
    const lines = (this.#pending + chunk.toString('utf8')).split('\n');
    this.#pending = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    const match = PACKET.exec(line);
    if (!match) return;
    const [, direction, payload = ''] = match;
    // v2: the capability advertisement's flush comes first; only the one after the command counts.
    if (direction === '>' && payload.startsWith('command=ls-refs')) this.#complete = false;
    else if (direction === '<' && payload.trim() === '0000') this.#complete = true;
  }
}
