export { startGateway } from './server.js';
export type { Gateway, GatewayApi, GatewayBackend, GatewayOptions } from './types.js';
