import { createHmac } from 'node:crypto';
import { FerryError } from '../../protocol/errors.js';
import { ARTIFACT_KINDS } from '../artifacts/registry.js';
import { ARTIFACT_FORMATS } from '../../protocol/formats.js';
import { safeEqual } from '../../util/safe-equal.js';
import type { JobSpec } from '../../protocol/job.js';

// The spec travels as a string so the HMAC covers the exact bytes; only a holder of
// FERRY_DISPATCH_SECRET (the worker itself) can start a job this way.
export interface JobEvent {
  type: 'job';
  spec: string;
  signature: string;
}

export function encodeJobEvent(spec: JobSpec, secret: string): string {
  const payload = JSON.stringify(spec);
  const event: JobEvent = { type: 'job', spec: payload, signature: hmac(secret, payload) };
  return JSON.stringify(event);
}

export function isJobEvent(value: unknown): value is JobEvent {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'job';
}

export function decodeJobEvent(event: JobEvent, secret: string): JobSpec {
  if (!safeEqual(hmac(secret, String(event.spec)), String(event.signature))) {
    throw new FerryError('UNAUTHORIZED', 'The job event is not signed with this worker\'s dispatch secret.');
  }
  const spec = JSON.parse(event.spec) as JobSpec;
  if (typeof spec.jobId !== 'string' || typeof spec.repo !== 'string' || typeof spec.commit !== 'string' || !ARTIFACT_FORMATS.includes(spec.format)) {
    throw new FerryError('BAD_REQUEST', 'The job event is missing jobId, repo, commit or format.');
  }
  if (spec.kind !== undefined && !ARTIFACT_KINDS.includes(spec.kind)) {
    throw new FerryError('BAD_REQUEST', `The job event names an unknown kind: expected one of ${ARTIFACT_KINDS.join(', ')}.`);
  }
  return spec;
}

function hmac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}
