export { startFcEmulator } from './emulator.js';
export type { FcCredentials, FcEmulator, FcEmulatorOptions, FcFront, FcInvokeResult } from './types.js';
