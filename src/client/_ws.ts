// require(), not import: ws's ESM wrapper makes node lex its 8 CommonJS files for their export names,
// about 40 ms of `ferry get`'s start-up.
import { createRequire } from 'node:module';
import type WebSocketClass from 'ws';

export const WebSocket = createRequire(import.meta.url)('ws') as typeof WebSocketClass;
