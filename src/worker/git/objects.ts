import { spawn } from 'node:child_process';
import { exited } from './child.js';

/** Which of `oids` the repository at `gitDir` has (any type): one `git cat-file --batch-check` for all. */
export async function presentObjects(gitDir: string, oids: readonly string[], env: NodeJS.ProcessEnv): Promise<Set<string>> {
  const present = new Set<string>();
  if (oids.length === 0) return present;
  const git = spawn('git', ['cat-file', '--batch-check=%(objectname)'], { cwd: gitDir, env: { ...env, GIT_DIR: gitDir }, stdio: ['pipe', 'pipe', 'pipe'] });
  git.stdin.on('error', () => undefined);
  git.stdin.end(`${oids.join('\n')}\n`);
  let out = '';
  git.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  await exited(git, 'Checking objects');
  // A missing object prints `<oid> missing`; a present one prints just its name.
  for (const line of out.split('\n')) if (/^[0-9a-f]{40,64}$/.test(line)) present.add(line);
  return present;
}
