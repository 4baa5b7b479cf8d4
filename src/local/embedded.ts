import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../protocol/errors.js';
import { startLocalStack, type LocalStack } from './stack.js';

export interface EmbeddedStackOptions {
  /** Default `${XDG_CACHE_HOME:-~/.cache}/ferry/local`, shared by every `ferry get` run. */
  dataDir?: string | undefined;
  allowHosts?: string[] | undefined;
  allowHttp?: boolean | undefined;
  /** Told when the shared data dir is busy and a temporary one is used instead. */
  onWarning?: (message: string) => void;
}

/**
 * The local stack `ferry get` runs on when it has no gateway. Another ferry may hold the shared data
 * dir (a second `ferry get` at the same time): this run then gets a temporary one of its own, without
 * the shared cache, rather than failing; closing the stack removes it.
 */
export async function startEmbeddedStack(options: EmbeddedStackOptions): Promise<LocalStack> {
  const start = (dataDir: string): Promise<LocalStack> =>
    startLocalStack({ dataDir, port: 0, allowHosts: options.allowHosts, allowHttp: options.allowHttp });
  const dataDir = options.dataDir ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ferry', 'local');
  try {
    return await start(dataDir);
  } catch (error) {
    if (!(error instanceof FerryError && error.code === 'DATA_DIR_IN_USE')) throw error;
  }
  const scratch = await mkdtemp(join(tmpdir(), 'ferry-local-'));
  options.onWarning?.(`${dataDir} is in use by another ferry; this run uses a temporary data directory (no cache).`);
  try {
    const stack = await start(scratch);
    return {
      ...stack,
      close: async () => {
        await stack.close();
        await rm(scratch, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw error;
  }
}
