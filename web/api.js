// @ts-check
/**
 * The two job APIs, over the websocket when it is registered and over plain HTTP on the same origin
 * otherwise (the gateway serves both). Every failure becomes an `ApiError {code, message}`: the
 * worker's own `{code, message}` body, or a code derived from the gateway's X-Ca-Error-Message.
 */

/** @typedef {import('./gateway.js').GatewayClient} GatewayClient */
/** @typedef {import('./gateway.js').ApiResponse} ApiResponse */

export class ApiError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} status 0 when the server was not reached
   */
  constructor(code, message, status) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

/**
 * @typedef {object} JobRequest
 * @property {string} url
 * @property {string} [ref]
 * @property {'zip' | 'tar.gz'} format
 * @property {string} [deviceId]
 */

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
     * POST /jobs → 202 queued, or 200 with the finished state when the archive is cached.
     * @param {JobRequest} request
     */
    submit(request) {
      return call('POST', '/jobs', JSON.stringify(request));
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
    return new ApiError(json.code, typeof json.message === 'string' ? json.message : '', res.status);
  }
  // The gateway itself refused: no body, the reason in X-Ca-Error-Message (Alibaba Cloud's texts).
  const reason = res.headers['x-ca-error-message'] ?? '';
  return new ApiError(gatewayCode(res.status, reason), reason || `HTTP ${res.status}`, res.status);
}

/**
 * The gateway's own refusal (no worker body) as a code. The CLI maps it alike: src/client/_job-messages.ts gatewayCode().
 * @param {number} status
 * @param {string} reason
 */
function gatewayCode(status, reason) {
  if (status === 429) return 'RATE_LIMITED';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 401 || status === 403 || /signature|appkey|nonce|timestamp/i.test(reason)) return 'UNAUTHORIZED';
  if (status === 404) return 'NOT_FOUND';
  if (status >= 500) return 'GATEWAY_UNREACHABLE';
  return 'BAD_REQUEST';
}
