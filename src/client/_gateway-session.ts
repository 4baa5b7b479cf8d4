/**
 * One connection's session with the gateway: open → `RG#<deviceId>` → `RO#<credential>#<keepAliveMs>` →
 * signed REGISTER, then `H1` at the keep-alive interval and API calls matched to their answers by this
 * connection's `x-ca-seq`. What to do when it ends (reconnect, give up) is the GatewayClient's business.
 */
import { FerryError } from '../protocol/errors.js';
import { WebSocket } from './_ws.js';
import { decodeAnswer, encodeRequest, toText } from './_gateway-frames.js';

import type { ApiRequest, ApiResponse, ClientSocketLike, DisconnectReason, GatewayClientOptions } from './gateway-types.js';

/** A request that was on a connection when it dropped: it may or may not have reached the backend. */
export class ConnectionLostError extends FerryError {
  constructor(reason: string) {
    super('GATEWAY_UNREACHABLE', `The gateway connection dropped before the answer arrived (${reason}).`);
  }
}

export interface SessionSetup {
  /** The client's options: the URL to open, the credentials every frame is signed with. */
  options: GatewayClientOptions;
  host: string;
  deviceId: string;
  /** An `NF#` body (already acked). */
  onPush(text: string): void;
  /** The socket closed, after its pending calls were rejected. */
  onClose(session: Session): void;
}

interface Pending {
  resolve(res: ApiResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface Session {
  setup: SessionSetup;
  socket: ClientSocketLike;
  seq: number;
  pending: Map<string, Pending>;
  heartbeat?: NodeJS.Timeout;
  /** When the gateway last sent anything (HO# answers every H1): a silent socket is a dead one. */
  lastFrameAt: number;
  /** OS or CR, when the gateway said why before closing. */
  reason?: DisconnectReason;
}

const OPEN = 1;
const CONNECT_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 60_000;

/** One connection: open → RG → RO → REGISTER. Resolves with a ready session. */
export function openSession(setup: SessionSetup): Promise<Session> {
  const socket: ClientSocketLike = new WebSocket(setup.options.url, { handshakeTimeout: 10_000 });
  const session: Session = { setup, socket, seq: 0, pending: new Map(), lastFrameAt: Date.now() };

  return new Promise<Session>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!error) return resolve(session);
      endSession(session);
      reject(error);
    };
    const timer = setTimeout(() => settle(new Error('timed out opening the session')), CONNECT_TIMEOUT_MS);

    socket.on('error', (error) => settle(error));
    socket.on('open', () => socket.send(`RG#${setup.deviceId}`));
    socket.on('close', (code) => {
      onClose(session);
      settle(new Error(`connection closed (${code})${session.reason ? ` after ${session.reason}` : ''}`));
    });
    socket.on('message', (data) => {
      session.lastFrameAt = Date.now();
      const text = toText(data);
      if (text.startsWith('RO#')) {
        const keepAliveMs = Number(text.split('#')[2]);
        if (Number.isFinite(keepAliveMs) && keepAliveMs > 0) {
          session.heartbeat = setInterval(() => {
            // A NAT drop or a sleeping laptop closes nothing: three silent intervals mean the socket is
            // dead. terminate() fires 'close', which reconnects like any other drop.
            if (Date.now() - session.lastFrameAt > 3 * keepAliveMs) socket.terminate();
            else if (socket.readyState === OPEN) socket.send('H1');
          }, keepAliveMs);
          session.heartbeat.unref();
        }
        register(session).then(
          () => settle(),
          (error: Error) => settle(error),
        );
      } else if (text.startsWith('RF#')) {
        const why = text.slice(3);
        // The previous connection may still hold our id for a moment: retry; anything else is final.
        settle(why === 'Device Id In Use' ? new Error(why) : new FerryError('GATEWAY_REFUSED', `The gateway refused the connection: ${why}.`));
      } else {
        onFrame(session, text);
      }
    });
  });
}

async function register(session: Session): Promise<void> {
  const res = await sendRequest(session, {
    method: 'POST',
    path: '/register',
    headers: { 'x-ca-websocket_api_type': 'REGISTER', 'content-type': 'application/json; charset=utf-8' },
    body: '{}',
  });
  if (res.status >= 200 && res.status < 300) return;
  const message = res.headers['x-ca-error-message'] ?? (res.body.slice(0, 200) || `status ${res.status}`);
  // A bad signature or key will not get better by retrying.
  const final = res.status >= 400 && res.status < 500 && res.status !== 429;
  if (final) throw new FerryError('GATEWAY_REFUSED', `The gateway refused REGISTER (${res.status}): ${message}. Check --app-key and --app-secret.`);
  throw new Error(`REGISTER answered ${res.status}: ${message}`);
}

function onFrame(session: Session, text: string): void {
  if (text.startsWith('NF#')) {
    if (session.socket.readyState === OPEN) session.socket.send('NO');
    session.setup.onPush(text.slice(3));
  } else if (text === 'OS' || text === 'CR') {
    session.reason = text;
  } else if (text.startsWith('{')) {
    const answer = decodeAnswer(text);
    const seq = answer?.seq;
    const pending = seq === undefined ? undefined : session.pending.get(seq);
    if (!answer || !pending || seq === undefined) return;
    session.pending.delete(seq);
    clearTimeout(pending.timer);
    pending.resolve(answer.response);
  }
  // HO#<credential> needs no action.
}

/** One API call on this connection; rejects with ConnectionLostError if it is not open. */
export function sendRequest(session: Session, req: ApiRequest): Promise<ApiResponse> {
  const seq = String(++session.seq);
  const frame = encodeRequest(req, seq, session.setup.host, session.setup.options.credentials);
  return new Promise((resolve, reject) => {
    if (session.socket.readyState !== OPEN) return reject(new ConnectionLostError('not connected'));
    const timer = setTimeout(() => {
      session.pending.delete(seq);
      reject(new FerryError('TIMEOUT', `The gateway did not answer ${req.method} ${req.path} within ${REQUEST_TIMEOUT_MS / 1000} s.`));
    }, REQUEST_TIMEOUT_MS);
    session.pending.set(seq, { resolve, reject, timer });
    session.socket.send(frame);
  });
}

function onClose(session: Session): void {
  if (session.heartbeat) clearInterval(session.heartbeat);
  const reason = session.reason ?? 'closed';
  for (const pending of session.pending.values()) {
    clearTimeout(pending.timer);
    pending.reject(new ConnectionLostError(reason));
  }
  session.pending.clear();
  session.setup.onClose(session);
}

export function endSession(session: Session): void {
  if (session.heartbeat) clearInterval(session.heartbeat);
  try {
    if (session.socket.readyState === OPEN) session.socket.close(1000, 'bye');
    else session.socket.terminate();
  } catch {
    // already closing
  }
}
