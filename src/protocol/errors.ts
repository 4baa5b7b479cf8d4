// Errors cross HTTP, the websocket and process boundaries, so everything a client needs is in `toJSON()`.
/** Codes the worker sends, with their HTTP status; the API gateway answers in the same shape. */
export const WORKER_ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  INVALID_URL: 400,
  INVALID_REF: 400,
  INVALID_FORMAT: 400,
  INVALID_DEVICE_ID: 400,
  INVALID_HAVE: 400,
  // A private repository's token is malformed, or this worker takes none (src/worker/git/access.ts).
  INVALID_TOKEN: 400,
  UNAUTHORIZED: 401,
  SIGNATURE_INVALID: 401,
  HOST_NOT_ALLOWED: 403,
  // A destination that is (or resolves to) loopback, private, link-local, metadata…: the SSRF guard (worker/net/).
  DESTINATION_FORBIDDEN: 403,
  // FERRY_ALLOWED_REPOS / FERRY_DENIED_REPOS refused the repository (or the repository a file belongs to).
  REPO_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  REF_NOT_FOUND: 404,
  REPO_NOT_FOUND: 404,
  DEVICE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  TOO_LARGE: 413,
  // Quotas (src/worker/quotas): a client over its jobs per minute or bytes per day.
  RATE_LIMITED: 429,
  INTERNAL: 500,
  GIT_FAILED: 500,
  UPSTREAM_UNREACHABLE: 502,
  // The upstream's answer broke off part way (a cut ref listing or pack, early EOF): transient, try again.
  UPSTREAM_TRUNCATED: 502,
  // A file changed upstream while it was being fetched (a resume answered with other bytes): fetch it again from the start.
  UPSTREAM_CHANGED: 502,
  STORAGE_FAILED: 502,
  // OSS did not answer or answered 5xx, still after retries: transient, unlike STORAGE_FAILED (OSS refused).
  STORAGE_UNAVAILABLE: 503,
  STORAGE_NOT_CONFIGURED: 503,
  // The instance is being reclaimed (FC's PreStop, SIGTERM): retryable, another instance takes the job.
  WORKER_STOPPING: 503,
  // The worker running the job died on every attempt, or stopped saying it is alive (its heartbeat): final.
  WORKER_LOST: 503,
  // More jobs wait on this instance than FERRY_MAX_PENDING: retry after Retry-After.
  BUSY: 503,
  // The operator's daily outbound budget (FERRY_DAILY_BUDGET_BYTES) is spent: new jobs wait for the next UTC day.
  BUDGET_EXHAUSTED: 503,
  // Less free disk under the work dir than FERRY_MIN_FREE_BYTES: nothing is fetched.
  INSUFFICIENT_STORAGE: 507,
  // Also what a client reports when it stops waiting (ferry get --timeout).
  TIMEOUT: 504,
  // The local gateway's own refusals (src/local/gateway/guard.ts): the request never reaches the worker.
  ORIGIN_NOT_ALLOWED: 403,
  REQUEST_TIMEOUT: 408,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HOST_NOT_SERVED: 421,
  HEADERS_TOO_LARGE: 431,
} as const;

/** Codes only clients raise, shaped the same so a client reports every failure alike. */
export const CLIENT_ERROR_STATUS = {
  GATEWAY_UNREACHABLE: 502,
  GATEWAY_REFUSED: 400,
  DOWNLOAD_FAILED: 502,
  CHECKSUM_MISMATCH: 502,
  UNSAFE_ARCHIVE: 422,
  EXTRACT_FAILED: 500,
  DATA_DIR_IN_USE: 409,
  // -o names a place ferry cannot save to (a missing directory, no write permission), found before submitting.
  OUTPUT_UNUSABLE: 400,
  // The destination holds other bytes and --force was not given.
  OUTPUT_EXISTS: 409,
  // The user stopped the command (Ctrl+C, SIGTERM): exit 130, as a shell reports a command stopped by SIGINT.
  INTERRUPTED: 499,
} as const;

export type WorkerErrorCode = keyof typeof WORKER_ERROR_STATUS;
export type ClientErrorCode = keyof typeof CLIENT_ERROR_STATUS;
export type ErrorCode = WorkerErrorCode | ClientErrorCode;

const ERROR_STATUS: Record<ErrorCode, number> = { ...WORKER_ERROR_STATUS, ...CLIENT_ERROR_STATUS };


export interface FerryErrorJSON {
  code: ErrorCode;
  message: string;
  status?: number;
  /** Another attempt at the same job is coming without anyone submitting it again: wait for it. */
  retrying?: true;
  /** Seconds to wait before trying again (also the Retry-After header over HTTP): quotas and busy instances. */
  retryAfter?: number;
}

export class FerryError extends Error {
  override readonly name = 'FerryError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly retrying: boolean;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retrying?: boolean; retryAfter?: number | undefined }) {
    super(message, options);
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retrying = options?.retrying ?? false;
    this.retryAfter = options?.retryAfter;
  }

  toJSON(): FerryErrorJSON {
    return {
      code: this.code,
      message: this.message,
      status: this.status,
      ...(this.retrying && { retrying: true }),
      ...(this.retryAfter !== undefined && { retryAfter: this.retryAfter }),
    };
  }
}

/** Any thrown value as a FerryError; unknown failures become INTERNAL without leaking internals. */
export function toFerryError(value: unknown): FerryError {
  if (value instanceof FerryError) return value;
  if (value instanceof Error && value.name === 'AbortError') {
    return new FerryError('TIMEOUT', 'The operation was aborted before it finished. Try again.', { cause: value });
  }
  return new FerryError('INTERNAL', 'Something went wrong inside ferry. Try again; if it persists, report it with the job id.', { cause: value });
}

export function errorFromJSON(json: { code?: unknown; message?: unknown; retrying?: unknown; retryAfter?: unknown }): FerryError {
  const code = typeof json.code === 'string' && json.code in ERROR_STATUS ? (json.code as ErrorCode) : 'INTERNAL';
  const message = typeof json.message === 'string' ? json.message : 'Unknown error';
  const retryAfter = typeof json.retryAfter === 'number' && Number.isFinite(json.retryAfter) && json.retryAfter >= 0 ? json.retryAfter : undefined;
  return new FerryError(code, message, { retrying: json.retrying === true, retryAfter });
}
