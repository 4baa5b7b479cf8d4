import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { exited } from '../git/child.js';
import type { ObjectStore } from '../storage/oss-store.js';
import type { BundleChain } from './bundle-chain.js';

const REFSPECS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'];

/**
 * Fill a new, empty mirror from a repository's cached bundle chain over the internal endpoint, link by
 * link (each needs the ones before it), so the upstream fetch that follows transfers only what is new.
 * FC instances are short-lived: without this every cold instance would clone the whole history again.
 */
export async function seedFromChain(gitDir: string, chain: BundleChain, store: ObjectStore, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<number> {
  let seeded = 0;
  const file = join(gitDir, 'ferry-seed.bundle');
  try {
    for (const link of chain.links) {
      if (!link.key) continue;
      signal?.throwIfAborted();
      const body = await store.getStream(link.key);
      if (!body) throw new Error(`bundle ${link.key} of the chain is missing`);
      // On disk first: `git fetch` reads a bundle by path, and the stream never sits in memory.
      await pipeline(body, createWriteStream(file), { signal });
      // The worker's git allows only http(s) transports (env.ts); a bundle path is the file transport.
      const git = spawn('git', ['-c', 'protocol.file.allow=always', 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', file, ...REFSPECS], {
        cwd: gitDir,
        env: { ...env, GIT_DIR: gitDir },
        stdio: ['ignore', 'ignore', 'pipe'],
        // A job that times out or is stopped does not wait for a long seed to finish.
        ...(signal && { signal }),
      });
      await exited(git, 'Seeding the mirror');
      seeded += link.size;
    }
    return seeded;
  } finally {
    await rm(file, { force: true });
  }
}
