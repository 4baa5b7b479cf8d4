// client → gateway  RG#<deviceId> | H1 | NO | {"method","host","path","querys","headers","isBase64","body"}
// gateway → client  RO#<credential>#<keepAliveMs> | RF#<reason> | HO#<credential> | NF#<message> | OS | CR
//                   | {"status","header","body"} echoing x-ca-seq
// Parsing is total: every input maps to a frame or to a reason it is invalid, never an exception.
import { firstValues } from '../../protocol/apigw-signature.js';
import type { GatewayRequest, GatewayResponse } from './types.js';
import { DEVICE_ID_RULE, isDeviceId } from '../../protocol/device-id.js';

export type ApiFrame = Omit<GatewayRequest, 'clientIp' | 'connection'>;

export type ClientFrame =
  | { kind: 'register'; deviceId: string }
  | { kind: 'bad-register'; reason: string }
  | { kind: 'heartbeat' }
  | { kind: 'ack' }
  | { kind: 'request'; request: ApiFrame }
  | { kind: 'bad-request'; reason: string; seq?: string };

export function parseClientFrame(text: string): ClientFrame {
  if (text === 'H1') return { kind: 'heartbeat' };
  if (text === 'NO') return { kind: 'ack' };
  if (text.startsWith('RG#')) {
    const deviceId = text.slice(3);
    return isDeviceId(deviceId) ? { kind: 'register', deviceId } : { kind: 'bad-register', reason: `Invalid DeviceId: expected ${DEVICE_ID_RULE}` };
  }
  if (!text.startsWith('{')) return { kind: 'bad-request', reason: 'Unknown frame: expected RG#, H1, NO or a JSON API request' };

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'bad-request', reason: 'Invalid Request Body: frame is not valid JSON' };
  }
  if (!isRecord(json)) return { kind: 'bad-request', reason: 'Invalid Request Body: frame must be a JSON object' };

  const headers = flattenHeaders(json.headers);
  const seq = headers?.['x-ca-seq'];
  const bad = (reason: string): ClientFrame => ({ kind: 'bad-request', reason, ...(seq !== undefined ? { seq } : {}) });
  if (headers === undefined) return bad('Invalid Header: `headers` must map names to string arrays');
  if (typeof json.method !== 'string' || !/^[A-Za-z]{1,16}$/.test(json.method)) return bad('Invalid HttpMethod');
  if (typeof json.path !== 'string' || !json.path.startsWith('/')) return bad('Invalid Request Path: `path` must start with "/"');

  const mark = json.path.indexOf('?');
  const path = mark < 0 ? json.path : json.path.slice(0, mark);
  const inlineQuery = firstValues(new URLSearchParams(mark < 0 ? '' : json.path.slice(mark + 1)));
  const querys: [string, string][] = [];
  if (json.querys !== undefined && json.querys !== null) {
    if (!isRecord(json.querys)) return bad('Invalid Request Uri: `querys` must be an object');
    for (const [key, value] of Object.entries(json.querys)) {
      const first = Array.isArray(value) ? value[0] : value;
      if (first === undefined || first === null) querys.push([key, '']);
      else if (typeof first === 'string' || typeof first === 'number' || typeof first === 'boolean') querys.push([key, String(first)]);
      else return bad(`Invalid Request Uri: query \`${key}\` must be a string`);
    }
  }
  // Spread, not assignment, so every name (even `__proto__`) stays an own key; `querys` wins.
  const query = { ...inlineQuery, ...Object.fromEntries(querys) };

  const isBase64 = json.isBase64 === 1 || json.isBase64 === true;
  if (json.body !== undefined && json.body !== null && typeof json.body !== 'string') return bad('Invalid Body: `body` must be a string');
  const rawBody = typeof json.body === 'string' ? json.body : '';
  if (isBase64 && !/^[A-Za-z0-9+/]*={0,2}$/.test(rawBody)) return bad('Invalid Body: `body` is not base64');
  const body = Buffer.from(rawBody, isBase64 ? 'base64' : 'utf8');

  return { kind: 'request', request: { method: json.method.toUpperCase(), path, query, headers, body } };
}

export function responseFrame(res: GatewayResponse, seq: string | undefined): string {
  const header: Record<string, string> = { ...res.headers };
  if (seq !== undefined) header['x-ca-seq'] = seq;
  return JSON.stringify({
    status: res.status,
    header,
    body: res.binary ? res.body.toString('base64') : res.body.toString('utf8'),
    ...(res.binary ? { isBase64: 1 } : {}),
  });
}

/** `{name: [values]}` (the official clients) or `{name: value}` → lower-case, comma-joined. */
function flattenHeaders(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(value)) {
    const values = Array.isArray(raw) ? raw : [raw];
    if (!values.every((v) => typeof v === 'string' || typeof v === 'number')) return undefined;
    out[name.toLowerCase()] = values.map(String).join(',');
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
