// The large artifact of the link section (test/fixtures/make-large-files.sh).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gitEnv } from '../helpers/fixtures.js';
import { ROOT } from '../helpers/worker-process.js';

const execFileAsync = promisify(execFile);

/**
 * Builds test/.fixtures/large/link.git once (a few seconds; the script exits at once when it exists) and
 * returns the fixtures root. Only the bench builds it.
 */
export async function largeRoot(): Promise<string> {
  const root = join(ROOT, 'test/.fixtures');
  await execFileAsync('bash', [join(ROOT, 'test/fixtures/make-large-files.sh'), root], { env: gitEnv(), timeout: 5 * 60_000 });
  return root;
}
