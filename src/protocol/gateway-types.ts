// Nothing here may need Node: the page imports the compiled module as is.
/** The few socket methods a session uses; both `ws` and the browser's WebSocket have them. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
}

export interface ApiRequest {
  method: string;
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

/** The CLI signs (APP authentication); the page calls ANONYMOUS APIs and passes none. */
export type RequestSigner = (req: SignableFrame) => Record<string, string>;

/** apigw-signature.ts's SignableRequest, without its Node types. */
export interface SignableFrame {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}
