/**
 * ws's client class, loaded with require(). `import { WebSocket } from 'ws'` goes through ws's ESM
 * wrapper, and node then lexes each of the 8 CommonJS files it imports for their export names: about
 * 40 ms of `ferry get`'s start-up, measured (import ~60 ms, require ~22 ms, median of 25 runs).
 */
import { createRequire } from 'node:module';
import type WebSocketClass from 'ws';

export const WebSocket = createRequire(import.meta.url)('ws') as typeof WebSocketClass;
