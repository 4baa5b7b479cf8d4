export { startOssServer } from './server.js';
export type { OssServer, OssServerOptions } from './types.js';
