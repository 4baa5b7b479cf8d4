// Peak memory of a process and of everything it spawns, sampled from /proc while it works. The
// kernel keeps each process's own peak (VmHWM), so a sample shortly before a process exits is
// enough; what a sampler can miss is a child that lives less than one interval.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessPeak {
  pid: number;
  /** The executable's name from /proc/<pid>/stat (`git`, `git-remote-http`, `node`…). */
  name: string;
  /** What it runs: `git pack-objects`, `git index-pack`, `node …/main.js`. */
  command: string;
  peakRssBytes: number;
}

export interface TreePeaks {
  /** The sampled root (the worker's node process). */
  root: ProcessPeak | undefined;
  /** Its descendants (git and git's own children), each with its own peak. */
  children: ProcessPeak[];
  /** The highest sum of VmRSS over the descendants alive at one sample. */
  childrenTogetherBytes: number;
  samples: number;
}

export interface TreeSampler {
  /** Stops sampling, takes one last sample and returns the peaks. */
  stop(): TreePeaks;
}

/** Samples `rootPid` and its descendants every `intervalMs` (a /proc scan costs ~1.5 ms here). */
export function sampleTree(rootPid: number, intervalMs = 100): TreeSampler {
  const peaks = new Map<number, ProcessPeak>();
  let childrenTogetherBytes = 0;
  let samples = 0;
  const sample = (): void => {
    samples++;
    let together = 0;
    for (const pid of [rootPid, ...descendants(rootPid)]) {
      const status = readProc(pid, 'status');
      if (status === undefined) continue;
      const hwm = kilobytes(status, 'VmHWM') * 1024;
      if (pid !== rootPid) together += kilobytes(status, 'VmRSS') * 1024;
      const known = peaks.get(pid);
      if (known) known.peakRssBytes = Math.max(known.peakRssBytes, hwm);
      else peaks.set(pid, { pid, name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?', command: label(pid), peakRssBytes: hwm });
    }
    childrenTogetherBytes = Math.max(childrenTogetherBytes, together);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const all = [...peaks.values()];
      return { root: peaks.get(rootPid), children: all.filter((p) => p.pid !== rootPid), childrenTogetherBytes, samples };
    },
  };
}

/** Every live process below `pid`, found through the parent pid in each /proc/<pid>/stat. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProc(Number(entry), 'stat');
    // Fields after "(comm)": state, ppid, … (comm itself may hold spaces and parentheses).
    const ppid = stat === undefined ? undefined : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== undefined) parentOf.set(Number(entry), ppid);
  }
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop() as number;
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found;
}

/** `git <subcommand>` for git (its options and their values skipped), else the program and its first argument. */
function label(pid: number): string {
  const argv = (readProc(pid, 'cmdline') ?? '').split('\0').filter(Boolean);
  const program = (argv[0] ?? '').split('/').at(-1) ?? '';
  if (program.startsWith('git-')) return program;
  if (program !== 'git') return argv.slice(0, 2).join(' ');
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-c' || arg === '-C') i++;
    else if (!arg.startsWith('-')) return `git ${arg}`;
  }
  return 'git';
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function kilobytes(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? 0);
}
