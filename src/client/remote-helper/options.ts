// `option <name> <value>`: the answers git expects are `ok`, `unsupported` or `error <msg>`.
// Shallow and partial fetches are refused by exiting: git ignores an `error` answer to `depth` and
// would silently make a full clone, which is the opposite of what was asked.
import { FerryError } from '../../protocol/errors.js';

export interface HelperOptions {
  /** 0 quiet (-q), 1 default, 2+ each -v. */
  verbosity: number;
  /** Progress lines on stderr; git asks for them when stderr is a terminal or with --progress. */
  progress: boolean;
  /** `git push --dry-run`. */
  dryRun: boolean;
  /** `git push --atomic`. */
  atomic: boolean;
  /** `git push -o <option>`, passed on as given. */
  pushOptions: string[];
  /** A clone asks whether the fetched pack is self-contained and connected, to skip its connectivity walk. */
  checkConnectivity: boolean;
}

export function defaultOptions(): HelperOptions {
  return { verbosity: 1, progress: false, dryRun: false, atomic: false, pushOptions: [], checkConnectivity: false };
}

/** Raised for options ferry will not honour; the helper prints `fatal: ferry: <message>` and exits 128. */
export class RefusedOptionError extends FerryError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
  }
}

export const SHALLOW_REFUSAL = "shallow clones are not supported through ferry; use 'ferry get <url>' for a snapshot of one commit";
export const FILTER_REFUSAL = "partial clones (--filter) are not supported through ferry; clone without --filter";

const SHALLOW_OPTIONS = new Set(['depth', 'deepen-since', 'deepen-not', 'deepen-relative']);
// Accepted and needing nothing from us: every bundle carries all tags, and clone or not, the work is the same.
const NO_OP_OPTIONS = new Set(['followtags', 'cloning']);

/** Applies one option line's name and value; returns the answer line for git, or throws RefusedOptionError. */
export function applyOption(options: HelperOptions, name: string, value: string): string {
  if (SHALLOW_OPTIONS.has(name)) {
    // git resets these to "no depth" (`depth 0`, `deepen-relative false`) before fetching tags it follows.
    if ((name === 'depth' && value === '0') || (name === 'deepen-relative' && value === 'false')) return 'ok';
    throw new RefusedOptionError(SHALLOW_REFUSAL);
  }
  if (name === 'filter') throw new RefusedOptionError(FILTER_REFUSAL);
  if (NO_OP_OPTIONS.has(name)) return isBoolean(value) ? 'ok' : `error ${name} expects true or false`;
  switch (name) {
    case 'verbosity': {
      const level = Number(value);
      if (!Number.isInteger(level) || level < 0) return 'error verbosity expects a whole number';
      options.verbosity = level;
      return 'ok';
    }
    case 'progress':
    case 'dry-run':
    case 'atomic':
    case 'check-connectivity': {
      if (!isBoolean(value)) return `error ${name} expects true or false`;
      const on = value === 'true';
      if (name === 'progress') options.progress = on;
      else if (name === 'dry-run') options.dryRun = on;
      else if (name === 'atomic') options.atomic = on;
      else options.checkConnectivity = on;
      return 'ok';
    }
    case 'push-option':
      options.pushOptions.push(value);
      return 'ok';
    default:
      return 'unsupported';
  }
}

function isBoolean(value: string): boolean {
  return value === 'true' || value === 'false';
}
