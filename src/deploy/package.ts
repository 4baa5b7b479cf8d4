// `npm run package`: everything a deployment uploads, under dist/deploy/.
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { buildCodePackage } from './code-package.js';
import { buildGitLayer } from './git-layer.js';
import { writeWebBundle } from './web-bundle.js';

const projectDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const program = new Command('npm run package --')
  .description('Build the FC code package, the git layer and the web page (a static site) into dist/deploy/ (run `npm run build` first; `npm run package` does).')
  .addOption(new Option('--only <part>', 'build one part only').choices(['code', 'git-layer', 'web']))
  .option('--out <dir>', 'output directory', join(projectDir, 'dist', 'deploy'))
  .addHelpText(
    'after',
    `
Environment:
  FERRY_DEBIAN_MIRROR           Debian archive for the git layer (default http://deb.debian.org/debian)
  FERRY_DEBIAN_SECURITY_MIRROR  its security archive (default http://deb.debian.org/debian-security)
  XDG_CACHE_HOME                apt's lists are kept in $XDG_CACHE_HOME/ferry/deploy (default ~/.cache)`,
  )
  .action(async (flags: { only?: 'code' | 'git-layer' | 'web'; out: string }) => {
    const outDir = resolve(flags.out);
    const shown = (path: string): string => relative(process.cwd(), path) || path;
    const wanted = (part: 'code' | 'git-layer' | 'web'): boolean => flags.only === undefined || flags.only === part;
    if (wanted('web')) {
      const site = await writeWebBundle(projectDir, join(outDir, 'web'));
      console.log(`web page      ${shown(site.outDir)}/  (${site.files.length} files: the page for an OSS static website, docs/deploy.md)`);
    }
    if (wanted('code')) {
      const code = await buildCodePackage(projectDir, outDir);
      console.log(`code package  ${shown(code.zipPath)}  ${formatMiB(code.bytes)}  (${code.files} modules; packages: ${code.packages.join(', ')})`);
    }
    if (wanted('git-layer')) {
      const layer = await buildGitLayer({
        outDir,
        cacheDir: join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ferry', 'deploy'),
        mirror: process.env.FERRY_DEBIAN_MIRROR || 'http://deb.debian.org/debian',
        securityMirror: process.env.FERRY_DEBIAN_SECURITY_MIRROR || 'http://deb.debian.org/debian-security',
        log: (line) => console.error(line),
      });
      console.log(`git layer     ${shown(layer.zipPath)}  ${formatMiB(layer.bytes)}  (git ${layer.gitVersion}, unpacked by FC under /opt/git)`);
    }
  });

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

program.parseAsync().catch((error: unknown) => {
  console.error(`package: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
