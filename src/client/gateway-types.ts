import type { AppCredentials } from '../protocol/apigw-signature.js';
import type { DisconnectReason } from '../protocol/gateway-types.js';

export type { ApiRequest, ApiResponse, DisconnectReason } from '../protocol/gateway-types.js';

export interface ReconnectInfo {
  reason: DisconnectReason;
  attempt: number;
}

/** A connection attempt is starting: the first connect's, or a reconnect's after a drop. */
export interface ConnectingInfo {
  attempt: number;
  reconnect: boolean;
}

export interface GatewayClientOptions {
  /** ws:// or wss:// URL of the gateway. */
  url: string;
  /** Sign every frame (APP authentication). Without them frames go unsigned (ANONYMOUS APIs only). */
  credentials?: AppCredentials | undefined;
  /** Kept across reconnects so pushes keep reaching us; default `<uuid>@<appKey>` like the official SDKs. */
  deviceId?: string;
  /**
   * Reconnect backoff: doubling from `initialMs` to `maxMs`, giving up after `attempts` failures. The first
   * connect gives up after 2 when the first is refused (nothing listens at the address).
   */
  backoff?: { initialMs?: number; maxMs?: number; attempts?: number };
  /**
   * A private repository's token, sent as `x-ferry-git-token` with repository jobs and `GET /refs` (never in a
   * URL); default `FERRY_GIT_TOKEN` from the environment.
   */
  gitToken?: string | undefined;
}
