import { isJobEvent, type JobEvent } from '../jobs/job-event.js';

/*
 * FC's on-failure destination (AsyncInvokeConfig.DestinationConfig.OnFailure in template.yml and s.yaml)
 * invokes this function with the context of an async invocation whose retries are spent:
 *   {"timestamp", "requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
 *    "requestPayload": "<the original event>", "responseContext": {"statusCode", "functionError"}, "responsePayload"}
 * The local FC emulator sends the same shape (src/local/fc/async-queue.ts). The payload is read as a
 * string or, should it come parsed, as an object; only a job event in it means anything here.
 */
export interface FailureEvent {
  requestContext: Record<string, unknown>;
  requestPayload: unknown;
  responseContext?: Record<string, unknown>;
}

export function isFailureEvent(value: unknown): value is FailureEvent {
  const event = value as Partial<FailureEvent> | null;
  return typeof event === 'object' && event !== null && typeof event.requestContext === 'object' && event.requestContext !== null && 'requestPayload' in event;
}

/** The job event that failed, and why in a few words; undefined when the failed event was no job's. */
export function failedJob(event: FailureEvent): { job: JobEvent; detail: string } | undefined {
  let payload = event.requestPayload;
  if (typeof payload === 'string') {
    try {
      payload = JSON.parse(payload);
    } catch {
      return undefined;
    }
  }
  if (!isJobEvent(payload)) return undefined;
  const { condition, approximateInvokeCount } = event.requestContext;
  const count = typeof approximateInvokeCount === 'number' && Number.isInteger(approximateInvokeCount) ? approximateInvokeCount : undefined;
  const error = event.responseContext?.functionError;
  const detail = [
    count !== undefined ? `Function Compute ran it ${count} time${count === 1 ? '' : 's'}` : 'Function Compute gave up on it',
    typeof condition === 'string' && condition ? short(condition) : undefined,
    typeof error === 'string' && error ? short(error) : undefined,
  ].filter(Boolean).join(', ');
  return { job: payload, detail };
}

// Words for a message, never a page of someone's text.
function short(text: string): string {
  return text.replace(/[^\w .:-]/g, '').slice(0, 80);
}
