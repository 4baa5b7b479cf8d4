import { execFile } from 'node:child_process';
import { access, chmod, copyFile, cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readElf } from './elf.js';
import { zipDirectory } from './zip.js';

const execFileAsync = promisify(execFile);

/** The Debian release git comes from. The layer carries its glibc, so it runs on any x86_64 Linux image. */
export const DEBIAN_RELEASE = 'bookworm';
const ARCH = 'amd64';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** git's own dependencies that the layer does not carry: perl scripts and docs ferry never runs. */
const NOT_SHIPPED = new Set(['git-man', 'liberror-perl', 'perl', 'perl-base', 'perl-modules-5.36', 'libperl5.36', 'libcrypt1']);

/** glibc's dynamic loader: the layer runs its binaries through its own copy. */
const LOADER = 'ld-linux-x86-64.so.2';
/** Loaded by glibc itself, not named by any binary: the loader and libgcc_s (dlopened for thread unwinding). */
const IMPLIED = [LOADER, 'libgcc_s.so.1'];

const PROGRAMS = { git: 'git', 'git-remote-http': 'git-remote-http', 'git-remote-https': 'git-remote-http' } as const;

export interface GitLayerOptions {
  outDir: string;
  /** Keeps apt's lists and downloaded packages between builds. */
  cacheDir: string;
  mirror: string;
  securityMirror: string;
  log(line: string): void;
}

export interface GitLayer {
  zipPath: string;
  bytes: number;
  gitVersion: string;
  packages: string[];
}

// Packages come from Debian's archive through apt with a private state directory, so the build host only
// needs apt and dpkg-deb (any Debian or Ubuntu), not Debian 12 itself, and nothing is installed.
export async function buildGitLayer(options: GitLayerOptions): Promise<GitLayer> {
  await requireTools();
  const apt = await privateApt(options);
  options.log(`git layer: resolving git ${DEBIAN_RELEASE} packages`);
  await run('apt-get', [...apt.args, 'update'], {});
  const closure = (await run('apt-cache', [...apt.args, 'depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', 'git'], {}))
    .split('\n')
    .filter((line) => /^[a-z0-9]/.test(line))
    .filter((name) => !NOT_SHIPPED.has(name));
  const packages = [...new Set([...closure, 'ca-certificates'])].sort();

  const work = await mkdtemp(join(tmpdir(), 'ferry-git-layer-'));
  try {
    const debs = join(work, 'debs');
    await mkdir(debs);
    options.log(`git layer: downloading ${packages.length} packages`);
    await run('apt-get', [...apt.args, 'download', ...packages], { cwd: debs });
    const tree = join(work, 'tree');
    for (const deb of await readdir(debs)) await run('dpkg-deb', ['-x', join(debs, deb), tree], {});
    const layer = join(work, 'layer');
    await assemble(tree, layer);
    const versions = await Promise.all(
      (await readdir(debs)).map(async (deb) => (await run('dpkg-deb', ['--showformat=${Package}=${Version}', '--show', join(debs, deb)], {})).trim()),
    );
    await writeFile(join(layer, 'PACKAGES'), `Debian ${DEBIAN_RELEASE} ${ARCH} packages this layer was built from:\n${versions.sort().join('\n')}\n`);
    const gitVersion = versions.find((line) => line.startsWith('git='))?.slice(4) ?? 'unknown';

    await mkdir(options.outDir, { recursive: true });
    const zipPath = join(options.outDir, 'ferry-git-layer.zip');
    await rm(zipPath, { force: true });
    const bytes = await zipDirectory(layer, zipPath);
    return { zipPath, bytes, gitVersion, packages };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// Each name git executes is a launcher that starts the real binary with the layer's own glibc loader and
// library path. So the layer needs nothing of the image but a kernel and /bin/sh (it runs on
// custom.debian10–12, whose glibc is older than git's), and nothing else sees its libraries.
async function assemble(tree: string, layer: string): Promise<void> {
  const real = join(layer, 'libexec', 'bin');
  const core = join(layer, 'libexec', 'git-core');
  await mkdir(real, { recursive: true });
  await mkdir(core, { recursive: true });
  const binaries = [...new Set(Object.values(PROGRAMS))];
  for (const binary of binaries) {
    await copyFile(join(tree, 'usr/lib/git-core', binary), join(real, binary));
    await chmod(join(real, binary), 0o755);
  }
  for (const [name, binary] of Object.entries(PROGRAMS)) await writeFile(join(core, name), launcher(binary), { mode: 0o755 });

  await mkdir(join(layer, 'bin'));
  await writeFile(join(layer, 'bin', 'git'), GIT_ENTRY, { mode: 0o755 });
  await cp(join(tree, 'usr/share/git-core/templates'), join(layer, 'share/git-core/templates'), { recursive: true, dereference: true });

  const certs = join(tree, 'usr/share/ca-certificates/mozilla');
  const bundle = await Promise.all((await readdir(certs)).sort().map((name) => readFile(join(certs, name), 'utf8')));
  await mkdir(join(layer, 'ssl'));
  await writeFile(join(layer, 'ssl', 'ca-certificates.crt'), bundle.join(''));

  const libDir = join(layer, 'lib');
  await copyLibraries(tree, binaries.map((binary) => join(real, binary)), libDir);
  await chmod(join(libDir, LOADER), 0o755);
}

async function copyLibraries(tree: string, binaries: string[], libDir: string): Promise<void> {
  await mkdir(libDir);
  const searchPath = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'].map((dir) => join(tree, dir));
  const copied = new Set<string>();
  const pending = [...binaries];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    const elf = await readElf(file);
    if (!elf) throw new Error(`${file} is not an x86_64 ELF file`);
    for (const soname of [...elf.needed, ...IMPLIED]) {
      if (copied.has(soname)) continue;
      const source = await firstExisting(searchPath.map((dir) => join(dir, soname)));
      if (!source) throw new Error(`git needs ${soname}, which none of the downloaded packages provides`);
      copied.add(soname);
      await copyFile(await realpath(source), join(libDir, soname));
      pending.push(join(libDir, soname));
    }
  }
}

// The entry on PATH: where git finds its helpers and templates and, where the image has none, a CA bundle.
const GIT_ENTRY = `#!/bin/sh
# git from ferry's layer (see PACKAGES): everything it needs lives beside it.
root=\${0%/bin/*}
export GIT_EXEC_PATH="$root/libexec/git-core"
[ -n "$GIT_TEMPLATE_DIR" ] || export GIT_TEMPLATE_DIR="$root/share/git-core/templates"
[ -n "$GIT_SSL_CAINFO" ] || [ -r /etc/ssl/certs/ca-certificates.crt ] || export GIT_SSL_CAINFO="$root/ssl/ca-certificates.crt"
exec "$GIT_EXEC_PATH/git" "$@"
`;

function launcher(binary: string): string {
  return `#!/bin/sh
# Runs ${binary} with the layer's own glibc, whatever the image's is.
root=\${0%/libexec/git-core/*}
exec "$root/lib/${LOADER}" --library-path "$root/lib" --argv0 "$0" "$root/libexec/bin/${binary}" "$@"
`;
}

interface PrivateApt {
  args: string[];
}

async function privateApt(options: GitLayerOptions): Promise<PrivateApt> {
  const root = join(options.cacheDir, `apt-${DEBIAN_RELEASE}-${ARCH}`);
  for (const dir of ['etc/apt/sources.list.d', 'etc/apt/preferences.d', 'etc/apt/apt.conf.d', 'var/lib/apt/lists/partial', 'var/cache/apt/archives/partial', 'var/lib/dpkg']) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await writeFile(join(root, 'var/lib/dpkg/status'), '');
  await writeFile(
    join(root, 'etc/apt/sources.list'),
    [`deb [signed-by=${KEYRING}] ${options.mirror} ${DEBIAN_RELEASE} main`, `deb [signed-by=${KEYRING}] ${options.securityMirror} ${DEBIAN_RELEASE}-security main`, ''].join('\n'),
  );
  return {
    args: [
      '-q',
      '-o', `Dir=${root}`,
      '-o', `Dir::State::status=${join(root, 'var/lib/dpkg/status')}`,
      '-o', `APT::Architecture=${ARCH}`,
      // Downloads land in folders the invoking user owns: no privilege drop to _apt needed.
      '-o', 'APT::Sandbox::User=',
    ],
  };
}

async function requireTools(): Promise<void> {
  const missing: string[] = [];
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb']) {
    try {
      await execFileAsync('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  try {
    await access(KEYRING);
  } catch {
    missing.push(`${KEYRING} (package debian-archive-keyring)`);
  }
  if (missing.length > 0) {
    throw new Error(
      `The git layer is built from Debian packages with apt, and this machine lacks ${missing.join(', ')}. ` +
        'Build it on Debian or Ubuntu, or in a container: docker run --rm -v "$PWD":/src -w /src node:20-bookworm npm run package',
    );
  }
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    try {
      await access(path);
      return path;
    } catch {
      // next
    }
  }
  return undefined;
}

async function run(command: string, args: string[], options: { cwd?: string }): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { ...options, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`${command} ${args.filter((arg) => !arg.startsWith('-o') && !arg.includes('=')).join(' ')} failed${stderr ? `: ${stderr}` : ''}`, { cause: error });
  }
}
