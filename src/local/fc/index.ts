export { startFcEmulator } from './emulator.js';
export type { FcEmulator, FcEmulatorOptions, FcFront, FcInvokeResult } from './types.js';
