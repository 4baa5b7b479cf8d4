import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { pruneNodeModules, workerFiles } from './worker-files.js';
import { zipDirectory } from './zip.js';

const execFileAsync = promisify(execFile);

export const WORKER_ENTRY = 'worker/main.js';

export interface CodePackage {
  zipPath: string;
  bytes: number;
  files: number;
  packages: string[];
}

// `bootstrap` (mode 755), the modules the worker reaches and their production packages: nothing of the CLI, the local stack or tests.
export async function buildCodePackage(projectDir: string, outDir: string): Promise<CodePackage> {
  const distDir = join(projectDir, 'dist');
  const stage = await mkdtemp(join(tmpdir(), 'ferry-code-'));
  try {
    const worker = await workerFiles(distDir, WORKER_ENTRY);
    for (const file of worker.files) {
      await mkdir(dirname(join(stage, 'dist', file)), { recursive: true });
      await copyFile(join(distDir, file), join(stage, 'dist', file));
    }
    await copyFile(join(projectDir, 'bootstrap'), join(stage, 'bootstrap'));
    await chmod(join(stage, 'bootstrap'), 0o755);
    await copyFile(join(projectDir, 'package.json'), join(stage, 'package.json'));
    await copyFile(join(projectDir, 'package-lock.json'), join(stage, 'package-lock.json'));

    // The lock file's exact versions, production only; no install scripts run (none is needed).
    await execFileAsync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: stage,
      maxBuffer: 16 * 1024 * 1024,
    });
    await pruneNodeModules(join(stage, 'node_modules'), worker.packages);
    await rm(join(stage, 'package-lock.json'));

    await mkdir(outDir, { recursive: true });
    const zipPath = join(outDir, 'ferry-code.zip');
    await rm(zipPath, { force: true });
    const bytes = await zipDirectory(stage, zipPath);
    return { zipPath, bytes, files: worker.files.length, packages: worker.packages };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
