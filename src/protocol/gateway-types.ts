/**
 * The gateway websocket's boundary types, shared by the CLI (over `ws`) and the web page (over the
 * browser's WebSocket). Nothing here may need Node: the page imports the compiled module as is.
 */
/** The few socket methods a session uses; both `ws` and the browser's WebSocket have them. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** Drops the connection at once (ws); without it `close()` is used. */
  terminate?(): void;
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

/**
 * Turns a request's headers into the signed set to send (APP authentication). The CLI passes
 * `apigw-signature.ts`'s signRequest with its credentials; the page calls ANONYMOUS APIs and passes none.
 */
export type RequestSigner = (req: SignableFrame) => Record<string, string>;

/** An API frame's request as the signer reads it: apigw-signature.ts's SignableRequest, which needs Node. */
export interface SignableFrame {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}
