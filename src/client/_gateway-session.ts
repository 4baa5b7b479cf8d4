import { signRequest } from '../protocol/apigw-signature.js';
import { GatewaySession } from '../protocol/gateway-session.js';
import { WebSocket } from './_ws.js';

import type { GatewayClientOptions } from './gateway-types.js';

export interface SessionSetup {
  options: GatewayClientOptions;
  host: string;
  deviceId: string;
  /** An `NF#` body (already acked). */
  onPush(text: string): void;
  onClose(session: GatewaySession): void;
  /** The session exists (not yet registered): a pipelined call may wait for its REGISTER to go out. */
  onOpening?(session: GatewaySession): void;
}

/** One connection: open → RG → RO → REGISTER. Resolves with a registered session. */
export async function openSession(setup: SessionSetup): Promise<GatewaySession> {
  const socket = new WebSocket(setup.options.url, { handshakeTimeout: 10_000 });
  const creds = setup.options.credentials;
  const session: GatewaySession = new GatewaySession({
    socket,
    host: setup.host,
    deviceId: setup.deviceId,
    sign: creds && ((req) => signRequest(req, creds)),
    onPush: setup.onPush,
    onClose: () => setup.onClose(session),
  });
  setup.onOpening?.(session);
  socket.on('open', () => session.opened());
  socket.on('message', (data, isBinary) => {
    if (!isBinary) session.received(toText(data));
  });
  socket.on('close', (code) => session.closed(String(code)));
  // 'close' follows every 'error'; an error before the handshake is the reason the session never opened.
  socket.on('error', (error) => session.failed(error));
  await session.ready;
  return session;
}

function toText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
