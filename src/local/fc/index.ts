export { startFcEmulator } from './emulator.js';
export type { FcCredentials, FcEmulator, FcEmulatorOptions, FcInvokeResult } from './types.js';
