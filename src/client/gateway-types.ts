import type { AppCredentials } from '../protocol/apigw-signature.js';
import type { DisconnectReason } from '../protocol/gateway-types.js';

export type { ApiRequest, ApiResponse, DisconnectReason } from '../protocol/gateway-types.js';

export interface ReconnectInfo {
  reason: DisconnectReason;
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
