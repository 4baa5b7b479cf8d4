// The processes under a pid, from /proc, and a sampler of their peak resident sets: the bench's view of
// the stack process and the worker (the FC runtime: bootstrap execs node, git runs beneath it).
import { readdirSync, readFileSync } from 'node:fs';
import { peakRss } from './measure.js';

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

function processes(): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      found.push({ pid: Number(name), ppid, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Every descendant of `root`. */
export function descendants(root: number): ProcInfo[] {
  const all = processes();
  const out: ProcInfo[] = [];
  const parents = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const proc of all) {
      if (!parents.has(proc.pid) && parents.has(proc.ppid)) {
        parents.add(proc.pid);
        out.push(proc);
        grew = true;
      }
    }
  }
  return out;
}

/** The worker's node process under the stack process (its runtime's process group leader). */
export function workerPid(stackPid: number): number | undefined {
  return descendants(stackPid).find((proc) => proc.cmdline.includes('dist/worker/main.js'))?.pid;
}

function currentRss(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface RssPeaks {
  /** VmHWM of the stack process (gateway, FC emulator, OSS store). */
  stack: number;
  /** The highest VmHWM of any worker node process (a killed worker's and its replacement's alike). */
  worker: number;
  /** The highest sampled sum of the worker's process tree (node + git children). */
  workerTree: number;
}

/** Samples every `intervalMs` until stopped. */
export function sampleRss(stackPid: number, intervalMs = 500): { stop(): RssPeaks } {
  const peaks: RssPeaks = { stack: 0, worker: 0, workerTree: 0 };
  const sample = (): void => {
    peaks.stack = Math.max(peaks.stack, peakRss(stackPid) ?? 0);
    const worker = workerPid(stackPid);
    if (worker === undefined) return;
    peaks.worker = Math.max(peaks.worker, peakRss(worker) ?? 0);
    const tree = [worker, ...descendants(worker).map((proc) => proc.pid)];
    peaks.workerTree = Math.max(peaks.workerTree, tree.reduce((sum, pid) => sum + currentRss(pid), 0));
  };
  const timer = setInterval(sample, intervalMs);
  sample();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}
