// How large the chunks are that node reads from `git archive`, per transport. Re-blocking exists so
// node reads a few large buffers instead of one per small write of git's zip writer; how large they
// get depends on the machine's speed, so the figure is measured here and never asserted by a test
// (test/worker/git/archive.test.ts checks the bytes).
import { archiveStream, type Transport } from '../../src/worker/git/archive.js';
import type { ArchiveFormat } from '../../src/protocol/formats.js';
import { gitRevParse } from '../helpers/fixtures.js';
import { median, now } from './measure.js';

export interface ReblockRun {
  transport: Transport;
  chunks: number;
  bytes: number;
  /** bytes / chunks */
  averageChunkBytes: number;
  ms: number;
}

/** Archives `gitDir`'s HEAD once per transport and run, counting the chunks node receives. */
export async function runReblock(gitDir: string, format: ArchiveFormat, runs: number): Promise<ReblockRun[]> {
  const commit = await gitRevParse(gitDir, 'HEAD');
  const results: ReblockRun[] = [];
  for (let i = 0; i < runs; i++) {
    for (const transport of ['lazy', 'dd', 'direct'] as const) {
      const started = now();
      const archive = archiveStream(gitDir, commit, format, 'bench', { transport });
      let chunks = 0;
      let bytes = 0;
      const read = (async () => {
        for await (const chunk of archive.stdout as AsyncIterable<Buffer>) {
          chunks++;
          bytes += chunk.length;
        }
      })();
      await Promise.all([read, archive.done]);
      results.push({ transport, chunks, bytes, averageChunkBytes: bytes / chunks, ms: now() - started });
    }
  }
  return results;
}

/** Median average chunk size and median time per transport. */
export function summariseReblock(runs: readonly ReblockRun[]): { transport: Transport; averageChunkBytes: number; chunks: number; ms: number }[] {
  return (['lazy', 'dd', 'direct'] as const).map((transport) => {
    const mine = runs.filter((run) => run.transport === transport);
    return {
      transport,
      averageChunkBytes: median(mine.map((run) => run.averageChunkBytes)),
      chunks: median(mine.map((run) => run.chunks)),
      ms: median(mine.map((run) => run.ms)),
    };
  });
}
