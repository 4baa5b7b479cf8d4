export { startGateway } from './server.js';
export type { Gateway, GatewayApi, GatewayBackend, GatewayOptions } from './types.js';
export type { ApiGatewayEvent, ApiGatewayResult } from '../../apigw.js';
