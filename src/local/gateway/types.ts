import type { ApiGatewayEvent, ApiGatewayResult } from '../../protocol/apigw-event.js';

export interface GatewayApi {
  method: string;
  /** Literal segments and `[name]` parameters, e.g. `/jobs/[id]`. */
  path: string;
  /** APP: a valid signature is required. ANONYMOUS: none required, but a bad one is refused. */
  auth: 'APP' | 'ANONYMOUS';
  /** Websocket special APIs. NOTIFY is called by the backend; the others by clients over ws. */
  type?: 'REGISTER' | 'UNREGISTER' | 'NOTIFY';
}

/** The function behind the gateway (FC in production; a fake or the FC emulator locally). */
export interface GatewayBackend {
  invoke(event: ApiGatewayEvent): Promise<ApiGatewayResult>;
}

export interface GatewayOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /**
   * The name users reach the gateway by, when it is not `host`: with `host`, loopback names and address literals,
   * the only Host headers served (others get 421, so a DNS-rebinding page cannot read answers).
   */
  publicHost?: string;
  /**
   * Origins of a page hosted elsewhere that names this gateway (`https://site.example`). Besides them only the
   * gateway's own page may call it from a browser: other origins get no CORS, and their websockets and writes 403.
   */
  allowedOrigins?: string[];
  apps: { appKey: string; appSecret: string }[];
  apis: GatewayApi[];
  backend: GatewayBackend;
  /** Served for GET/HEAD requests that match no API; `index.html` at `/`. */
  staticDir?: string;
  /** Heartbeat interval told to clients in `RO#…#<ms>`; 3 missed beats close the connection. Default 25 000. */
  keepAliveMs?: number;
  /** After this a connection gets `CR` and is closed. Default: unlimited. */
  maxConnectionLifetimeMs?: number;
  /** Frames a client may send per second before it gets `OS` and is closed. Default 100. */
  maxMessagesPerSecond?: number;
  /** Per client IP limit on ANONYMOUS APIs. Default: unlimited. */
  anonymousRateLimit?: { perMinute: number };
  /** Largest websocket frame and HTTP body accepted. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Largest HTTP request head (431 beyond it). Default 16 KiB, Node's own. */
  maxHeaderBytes?: number;
  /** Time for a whole HTTP request, headers and body, to arrive (408 after it). Default 30 000. */
  requestTimeoutMs?: number;
  /** Backend failures and dropped connections. Default: console.warn. */
  log?: (line: string) => void;
}

export interface Gateway {
  url: string;
  wsUrl: string;
  port: number;
  connections(): number;
  close(): Promise<void>;
}

export interface GatewayRequest {
  method: string;
  /** Raw path (percent-encoding kept), no query. */
  path: string;
  query: Record<string, string>;
  /** Lower-case names, multi-values joined with ','. */
  headers: Record<string, string>;
  body: Buffer;
  clientIp: string;
  /** Set for requests that arrived as websocket frames. */
  connection?: ConnectionLike;
}

export interface GatewayResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** True when `body` is binary (websocket frames then carry it base64). */
  binary?: boolean;
}

export interface ConnectionLike {
  readonly deviceId: string | undefined;
  /** Set after a 2xx REGISTER; NOTIFY reaches only registered devices. */
  registered: boolean;
  /** Pushes `NF#<body>`; resolves once written, false if the connection is gone. */
  notify(body: string): Promise<boolean>;
}
