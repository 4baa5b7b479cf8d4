import { FerryError } from '../../protocol/errors.js';
import { formatBytes } from '../../util/bytes.js';
import type { GitProgressLine } from './fetch-progress.js';

/**
 * FERRY_MAX_FETCH_BYTES for one git fetch or clone: git's own progress says what it has received
 * (`Receiving objects: … 12.34 MiB`, `Unpacking objects: … 245 KiB`); past the limit the fetch is
 * aborted. git prints at each percent of objects or each second, so the fetch stops within a percent
 * or a second of the limit; a fetch that ended before its abort landed is refused all the same.
 */
export class FetchBudget {
  readonly signal: AbortSignal | undefined;
  readonly #maxBytes: number | undefined;
  readonly #what: string;
  readonly #abort = new AbortController();
  #exceeded: FerryError | undefined;

  /** `what` names the fetch in the message (`Fetching https://host/owner/repo`). */
  constructor(maxBytes: number | undefined, what: string, signal: AbortSignal | undefined) {
    this.#maxBytes = maxBytes;
    this.#what = what;
    this.signal = maxBytes === undefined ? signal : signal ? AbortSignal.any([signal, this.#abort.signal]) : this.#abort.signal;
  }

  /** The error once the limit is passed. */
  get exceeded(): FerryError | undefined {
    return this.#exceeded;
  }

  /** `onProgress` with the budget watching each line first; undefined when neither is needed. */
  watch(onProgress: ((line: GitProgressLine) => void) | undefined): ((line: GitProgressLine) => void) | undefined {
    const maxBytes = this.#maxBytes;
    if (maxBytes === undefined) return onProgress;
    return (line) => {
      if (line.bytes !== undefined && line.bytes > maxBytes && !this.#exceeded) {
        this.#exceeded = new FerryError(
          'TOO_LARGE',
          `${this.#what} received ${formatBytes(line.bytes)}, more than the ${formatBytes(maxBytes)} this service fetches for one job (FERRY_MAX_FETCH_BYTES).`,
        );
        this.#abort.abort(this.#exceeded);
      }
      onProgress?.(line);
    };
  }

  throwIfExceeded(): void {
    if (this.#exceeded) throw this.#exceeded;
  }
}
