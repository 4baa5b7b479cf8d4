import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { archiveStream, reblocker } from '../../../src/worker/git/archive.js';
import { fixtureRoot, gitArchiveSha, gitRevParse } from '../../helpers/fixtures.js';

let basic: string;
let many: string;

beforeAll(async () => {
  const root = await fixtureRoot();
  basic = join(root, 'fixtures/basic.git');
  many = join(root, 'fixtures/many.git');
});

async function sha256Of(stream: AsyncIterable<Buffer>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

describe('archiveStream', () => {
  it.skipIf(process.platform !== 'linux')('picks the lazy re-blocker where bash and perl are (as on this Linux)', () => {
    expect(reblocker()).toBe('lazy');
  });

  for (const transport of ['lazy', 'dd', 'direct'] as const) {
    for (const format of ['zip', 'tar.gz'] as const) {
      it(`streams exactly what git archive writes (${transport}, ${format})`, async () => {
        const commit = await gitRevParse(many, 'HEAD');
        const archive = archiveStream(many, commit, format, 'many-abc', { transport });
        const [streamed] = await Promise.all([sha256Of(archive.stdout), archive.done]);
        expect(streamed.sha256).toBe(await gitArchiveSha(many, commit, format, 'many-abc'));
        // How large the re-blocked chunks get depends on the machine's speed: `npm run bench` reports it.
      });
    }
  }

  it("rejects with git's own message when git fails, whichever the transport", async () => {
    for (const transport of ['lazy', 'dd', 'direct'] as const) {
      const archive = archiveStream(basic, 'f'.repeat(40), 'zip', 'basic', { transport });
      const streamed = sha256Of(archive.stdout);
      const error = await archive.done.then(() => undefined, (e: unknown) => e);
      await streamed;
      expect(error).toBeInstanceOf(FerryError);
      expect((error as FerryError).message).toMatch(/not a valid object name|not a tree object|bad revision/i);
    }
  });

  it.each(['lazy', 'dd'] as const)('kill ends git and the %s re-blocker, and leaves no process behind, not even a zombie', async (transport) => {
    const commit = await gitRevParse(many, 'HEAD');
    const archive = archiveStream(many, commit, 'zip', 'many-kill', { transport });
    // Read one chunk, then stop reading and kill, as a failed upload does.
    const first = await new Promise<Buffer>((resolve) => archive.stdout.once('data', resolve));
    archive.stdout.pause();
    expect(first.length).toBeGreaterThan(0);
    const group = archive.pid as number;
    expect(await processesInGroup(group)).not.toEqual([]);
    archive.kill();
    await expect(archive.done).rejects.toBeInstanceOf(FerryError);
    // bash is gone (node reaped it) and so are git and the re-blocker (bash reaped them): nothing in the
    // group, where a KILL of the whole group would have left them to init, as zombies until reaped.
    expect(await processesInGroup(group)).toEqual([]);
  });
});

/** `pid state command` of every process whose process group is `group` (Linux /proc). */
async function processesInGroup(group: number): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, , pgrp] = stat.slice(close + 2).split(' ');
    if (Number(pgrp) === group) found.push(`${pid} ${state} ${stat.slice(stat.indexOf('(') + 1, close)}`);
  }
  return found;
}
