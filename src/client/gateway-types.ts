/** The gateway websocket client's boundary types: what callers pass in and get back. */
import type { AppCredentials } from '../protocol/apigw-signature.js';

/** The few `ws` client methods used here. */
export interface ClientSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
  on(event: 'close', listener: (code: number) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

export interface ApiRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

export interface ApiResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

/** Why a connection ended: the gateway's `OS` (flow control) or `CR` (lifetime), or the socket closed. */
export type DisconnectReason = 'OS' | 'CR' | 'closed';

export interface ReconnectInfo {
  reason: DisconnectReason;
  /** Connection attempts it took. */
  attempt: number;
}

export interface GatewayClientOptions {
  /** ws:// or wss:// URL of the gateway. */
  url: string;
  /** Sign every frame (APP authentication). Without them frames go unsigned (ANONYMOUS APIs only). */
  credentials?: AppCredentials | undefined;
  /** Kept across reconnects so pushes keep reaching us; default `<uuid>@<appKey>` like the official SDKs. */
  deviceId?: string;
  /** Reconnect backoff: doubling from `initialMs` to `maxMs`, giving up after `attempts` failures. */
  backoff?: { initialMs?: number; maxMs?: number; attempts?: number };
}
