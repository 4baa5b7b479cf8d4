// @ts-check
// Over the websocket when it is registered, else plain HTTP on the same origin (the gateway serves both).

import { gatewayCode } from './protocol/job-messages.js';

/** @typedef {import('./gateway.js').GatewayClient} GatewayClient */
/** @typedef {import('./gateway.js').ApiResponse} ApiResponse */

export class ApiError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} status 0 when the server was not reached
   * @param {number} [retryAfterMs] how long the server asked to wait before trying again (Retry-After)
   */
  constructor(code, message, status, retryAfterMs) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * @typedef {object} JobRequest
 * @property {'file'} [kind] a file (release asset, raw file, source archive, gist) instead of a repository archive
 * @property {string} url
 * @property {string} [ref]
 * @property {'zip' | 'tar.gz'} [format] archives only
 * @property {string} [deviceId]
 */

/** How many times POST /jobs is tried while instances refuse it as shutting down, and the longest wait honoured. */
const SUBMIT_ATTEMPTS = 4;
const MAX_RETRY_AFTER_MS = 10_000;

/**
 * @param {GatewayClient} gateway
 * @param {string} [httpBase] origin for the plain-HTTP fallback ('' = the page's own origin)
 */
export function createApi(gateway, httpBase = '') {
  /**
   * @param {string} method
   * @param {string} path
   * @param {string} [body]
   * @returns {Promise<{ status: number, json: Record<string, unknown> }>}
   */
  async function call(method, path, body) {
    /** @type {ApiResponse | undefined} */
    let res;
    if (gateway.state === 'online') {
      try {
        res = await gateway.request(method, path, body === undefined ? {} : { body });
      } catch {
        res = undefined; // the socket went away mid-call: ask again over HTTP
      }
    }
    res ??= await httpCall(method, `${httpBase}${path}`, body);
    const json = parseBody(res.body);
    if (res.status >= 200 && res.status < 300) return { status: res.status, json };
    throw toApiError(res, json);
  }

  return {
    /**
     * An instance shutting down refuses it (503 WORKER_STOPPING): sent again after its Retry-After.
     * @param {JobRequest} request
     * @param {{ onRetry?: (delayMs: number) => void }} [options]
     */
    async submit(request, options = {}) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await call('POST', '/jobs', JSON.stringify(request));
        } catch (error) {
          if (!(error instanceof ApiError && error.code === 'WORKER_STOPPING' && error.status === 503) || attempt >= SUBMIT_ATTEMPTS) throw error;
          const delayMs = Math.min(error.retryAfterMs ?? 2000, MAX_RETRY_AFTER_MS);
          options.onRetry?.(delayMs);
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
      }
    },
    /** @param {string} jobId */
    get(jobId) {
      return call('GET', `/jobs/${encodeURIComponent(jobId)}`);
    },
  };
}

/**
 * @param {string} method
 * @param {string} path
 * @param {string} [body]
 * @returns {Promise<ApiResponse>}
 */
async function httpCall(method, path, body) {
  /** @type {Response} */
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json; charset=utf-8' },
      cache: 'no-store',
      ...(body === undefined ? {} : { body }),
    });
  } catch (error) {
    throw new ApiError('NETWORK', error instanceof Error ? error.message : String(error), 0);
  }
  /** @type {Record<string, string>} */
  const headers = {};
  res.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  return { status: res.status, headers, body: await res.text().catch(() => '') };
}

/**
 * @param {string} text
 * @returns {Record<string, unknown>}
 */
function parseBody(text) {
  if (!text) return {};
  try {
    const json = JSON.parse(text);
    return json && typeof json === 'object' && !Array.isArray(json) ? json : {};
  } catch {
    return {};
  }
}

/**
 * @param {ApiResponse} res
 * @param {Record<string, unknown>} json
 */
function toApiError(res, json) {
  if (typeof json.code === 'string') {
    const retryAfter = Number(res.headers['retry-after']);
    return new ApiError(json.code, typeof json.message === 'string' ? json.message : '', res.status, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined);
  }
  // The gateway itself refused: no body, the reason in X-Ca-Error-Message (Alibaba Cloud's texts).
  const reason = res.headers['x-ca-error-message'] ?? '';
  return new ApiError(gatewayCode(res.status, reason), reason || `HTTP ${res.status}`, res.status);
}
