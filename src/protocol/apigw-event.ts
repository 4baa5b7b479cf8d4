/**
 * The API Gateway → Function Compute trigger contract, shared by the worker's runtime (which
 * receives these events) and the local gateway (which produces them), so both sides agree by type.
 */

/** What the gateway sends to the function for one API call (the `POST /invoke` body). */
export interface ApiGatewayEvent {
  /** The request path as on the wire, e.g. `/jobs/abc`. */
  path: string;
  httpMethod: string;
  /** Header names lower-case; repeated headers joined with `,`. */
  headers: Record<string, string>;
  /** Decoded query parameters, first value of a repeated key. */
  queryParameters: Record<string, string>;
  /** Decoded values of the API's `[name]` path segments. */
  pathParameters: Record<string, string>;
  /** The body: text as is, or base64 when `isBase64Encoded`. */
  body: string;
  isBase64Encoded: boolean;
}

/** What the function answers; the gateway turns it into the HTTP (or websocket) response. */
export interface ApiGatewayResult {
  isBase64Encoded: boolean;
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** The header API Gateway's backend adds (a constant parameter) to prove an event came through it. */
export const GATEWAY_SECRET_HEADER = 'x-ferry-gateway-secret';
