export { startOssServer } from './server.js';
export type { OssCredential, OssServer, OssServerOptions } from './types.js';
