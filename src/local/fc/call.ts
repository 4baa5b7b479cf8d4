import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { FUNCTION_TIMEOUT_S } from './context.js';
import type { RuntimeSupervisor } from './supervisor.js';
import { NotDeliveredError, sendToRuntime } from './upstream.js';

export interface RuntimeCall {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

// A refused connection means the instance died between ready() and the call; two more tries cover
// "seen as dead, restarted" without looping on a runtime that accepts nothing.
const NOT_DELIVERED_RETRIES = 2;

export async function callRuntime(supervisor: RuntimeSupervisor, call: RuntimeCall): Promise<IncomingMessage> {
  for (let n = 0; ; n++) {
    const instance = await supervisor.ready();
    try {
      return await sendToRuntime(instance.port, { ...call, timeoutMs: FUNCTION_TIMEOUT_S * 1000 });
    } catch (err) {
      if (!(err instanceof NotDeliveredError) || n >= NOT_DELIVERED_RETRIES || call.signal?.aborted) throw err;
      await supervisor.settle(instance);
    }
  }
}

export async function deliverOnce(supervisor: RuntimeSupervisor, call: RuntimeCall): Promise<number> {
  const res = await callRuntime(supervisor, call);
  res.resume();
  // Rejects if the runtime dies mid-body, which counts as a failed attempt.
  await finished(res);
  return res.statusCode ?? 0;
}
