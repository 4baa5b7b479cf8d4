import { errorFromJSON, FerryError, type ErrorCode } from './errors.js';
import type { ArtifactFormat } from './formats.js';
import { PHASES, type DoneMessage, type ErrorMessage, type JobMessage, type Phase, type ProgressMessage } from './job.js';

export function parseMessage(text: string): JobMessage | undefined {
  try {
    const json = JSON.parse(text) as Partial<JobMessage> | null;
    if (json?.v !== 1 || typeof json.jobId !== 'string') return undefined;
    if (json.type === 'progress' && PHASES.includes(json.phase as Phase)) return json as ProgressMessage;
    if (json.type === 'done' && typeof json.url === 'string' && typeof json.sha256 === 'string') return json as DoneMessage;
    if (json.type === 'error') return json as ErrorMessage;
  } catch {
    // not ours
  }
  return undefined;
}

/** A 2xx JSON body, or the error it carries: the worker's `{code, message}` or the gateway's X-Ca-Error-Message. */
export function parseBody(res: { status: number; headers: Record<string, string>; body: string }, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    json = undefined;
  }
  const record = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  if (res.status >= 200 && res.status < 300 && record) return record;
  if (record && typeof record.code === 'string') throw errorFromJSON(record);
  const detail = res.headers['x-ca-error-message'] ?? (res.body.slice(0, 200) || 'no body');
  const code = gatewayCode(res.status, detail);
  const hint = code === 'UNAUTHORIZED' ? ' Check --app-key and --app-secret.' : '';
  throw new FerryError(code, `The gateway answered ${what} with ${res.status}: ${detail}.${hint}`);
}

/** The gateway's own refusal (no worker body) as a code; the CLI and the page both use it. */
export function gatewayCode(status: number, detail: string): ErrorCode {
  if (status === 429) return 'RATE_LIMITED';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 401 || status === 403 || /signature|appkey|nonce|timestamp/i.test(detail)) return 'UNAUTHORIZED';
  if (status === 404) return 'NOT_FOUND';
  if (status >= 500) return 'GATEWAY_UNREACHABLE';
  return 'BAD_REQUEST';
}

export function stateToMessage(state: Record<string, unknown>): JobMessage | undefined {
  const jobId = state.jobId;
  if (typeof jobId !== 'string') return undefined;
  if (state.status === 'done') {
    const { url, expiresAt, filename, size, sha256, commit, ref, format, cached, parts } = state;
    if (typeof url !== 'string' || typeof sha256 !== 'string' || typeof filename !== 'string') return undefined;
    return {
      v: 1, type: 'done', jobId, url, expiresAt: String(expiresAt), filename, size: Number(size), sha256,
      commit: String(commit), ref: String(ref), format: format as ArtifactFormat, cached: cached === true,
      ...(Array.isArray(parts) && { parts: parts as DoneMessage['parts'] }),
      ...(typeof state.repo === 'string' && { repo: state.repo }),
    };
  }
  if (state.status === 'error') return { v: 1, type: 'error', jobId, ...errorFromJSON(state).toJSON() };
  const phase = PHASES.includes(state.phase as Phase) ? (state.phase as Phase) : 'queued';
  const message: ProgressMessage = { v: 1, type: 'progress', jobId, phase, ts: typeof state.updatedAt === 'number' ? state.updatedAt : Date.now() };
  for (const key of ['percent', 'bytes', 'total', 'queuePosition', 'stageDone', 'stageTotal', 'attempt'] as const) if (typeof state[key] === 'number') message[key] = state[key];
  if (typeof state.message === 'string') message.message = state.message;
  if (typeof state.stage === 'string') message.stage = state.stage;
  return message;
}
