// A minimal Debian root filesystem of the FC runtime's release, built once with debootstrap and kept
// between runs, and a way to run a program inside it with /code and /opt laid out as FC lays them.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Debian releases of FC's custom runtimes that Debian's archive still serves: custom.debian12 and 11. */
export type Release = 'bookworm' | 'bullseye';

/** Why the root-filesystem checks cannot run on this machine, or undefined when they can. */
export async function rootfsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `needs Linux (chroot, mount namespaces), this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot and mounts)';
  for (const tool of ['debootstrap', 'unshare', 'chroot', 'unzip']) {
    try {
      await execFileAsync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]);
    } catch {
      return `${tool} is not installed (.ci/run installs it)`;
    }
  }
  return undefined;
}

/**
 * `debootstrap --variant=minbase` of a Debian release — no git, no node — cached under the user's cache
 * folder (FERRY_ROOTFS_CACHE overrides). Built into a temporary folder and renamed, so an interrupted
 * build is never taken for a complete one.
 */
export async function minimalRootfs(release: Release): Promise<string> {
  const cache = process.env.FERRY_ROOTFS_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ferry', 'rootfs');
  const root = join(cache, `${release}-minbase`);
  try {
    await access(join(root, 'code'));
    return root;
  } catch {
    // not built yet
  }
  await mkdir(cache, { recursive: true });
  const building = `${root}.${process.pid}.tmp`;
  await rm(building, { recursive: true, force: true });
  const mirror = process.env.FERRY_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
  const debootstrap = (await execFileAsync('sh', ['-c', 'command -v debootstrap || echo /usr/sbin/debootstrap'])).stdout.trim();
  await execFileAsync(debootstrap, ['--variant=minbase', release, building, mirror], { maxBuffer: 64 * 1024 * 1024, timeout: 10 * 60_000 });
  // FC's mount point for the code package; /opt already exists in Debian.
  await mkdir(join(building, 'code'));
  await rename(building, root);
  return root;
}

export interface ChrootOptions {
  root: string;
  /** Bound read-only-in-spirit onto /code and /opt inside the root. */
  code: string;
  opt: string;
  env: Record<string, string>;
  command: string;
}

/**
 * Starts `command` chrooted into `root` in a private mount namespace: /code and /opt bound from the
 * host folders, /proc mounted, /tmp a fresh tmpfs, an environment of exactly `env`. The cached root
 * itself is never written. Shares the host's network, so loopback servers on the host are reachable.
 */
export function spawnInRootfs(options: ChrootOptions): ChildProcess {
  const script = [
    'set -e',
    'root=$1; code=$2; opt=$3; shift 3',
    'mount --make-rprivate /',
    'mount --bind "$code" "$root/code"',
    'mount --bind "$opt" "$root/opt"',
    'mount -t proc proc "$root/proc"',
    'mount -t tmpfs -o size=4g tmpfs "$root/tmp"',
    'exec chroot "$root" /usr/bin/env -i "$@"',
  ].join('\n');
  const envArgs = Object.entries(options.env).map(([name, value]) => `${name}=${value}`);
  return spawn('unshare', ['--mount', '--fork', '--', '/bin/sh', '-c', script, 'sh', options.root, options.code, options.opt, ...envArgs, options.command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}
