export interface ApiGatewayEvent {
  path: string;
  httpMethod: string;
  /** Header names lower-case; repeated headers joined with `,`. */
  headers: Record<string, string>;
  /** Decoded query parameters, first value of a repeated key. */
  queryParameters: Record<string, string>;
  pathParameters: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

export interface ApiGatewayResult {
  isBase64Encoded: boolean;
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** The header API Gateway's backend adds (a constant parameter) to prove an event came through it. */
export const GATEWAY_SECRET_HEADER = 'x-ferry-gateway-secret';
