import { ARTIFACT_KINDS, artifactKind } from '../artifacts/registry.js';
import type { ArtifactKind } from '../artifacts/types.js';
import type { Config } from '../config.js';
import { FerryError } from '../../protocol/errors.js';
import { ARCHIVE_FORMATS, type ArchiveFormat } from '../../protocol/formats.js';
import { parseRefSpec, type RefSpec } from '../../protocol/refs.js';
import { parseRepoUrl, type RepoRef } from '../git/url.js';

export interface JobRequest {
  kind: ArtifactKind;
  repo: RepoRef;
  ref: RefSpec;
  format: ArchiveFormat;
  deviceId: string | undefined;
}

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/;
const JOB_ID = /^[A-Za-z0-9_-]{8,64}$/;
const KNOWN_FIELDS = new Set(['kind', 'url', 'ref', 'format', 'deviceId']);

/** The one place a POST /jobs body is checked; every message says what to change. */
export function parseJobRequest(body: unknown, config: Config, headerDeviceId: string | null): JobRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new FerryError('BAD_REQUEST', 'Expected a JSON object such as {"url":"https://github.com/owner/repo","format":"zip"}.');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) {
    throw new FerryError('BAD_REQUEST', `Unknown field ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')}: expected kind, url, ref, format, deviceId.`);
  }
  if (fields.kind !== undefined && typeof fields.kind !== 'string') {
    throw new FerryError('BAD_REQUEST', `Expected \`kind\` to be one of ${ARTIFACT_KINDS.join(', ')}, got ${JSON.stringify(fields.kind).slice(0, 40)}.`);
  }
  const kind = artifactKind(fields.kind);
  const format = fields.format ?? 'zip';
  if (typeof format !== 'string' || !ARCHIVE_FORMATS.includes(format as ArchiveFormat)) {
    throw new FerryError('INVALID_FORMAT', `Expected \`format\` to be one of ${ARCHIVE_FORMATS.join(', ')}, got ${JSON.stringify(format).slice(0, 40)}.`);
  }
  return {
    kind,
    repo: parseRepoUrl(fields.url, config),
    ref: parseRefSpec(fields.ref),
    format: format as ArchiveFormat,
    deviceId: parseDeviceId(fields.deviceId ?? headerDeviceId ?? undefined),
  };
}

export function parseDeviceId(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !DEVICE_ID.test(value)) {
    throw new FerryError('INVALID_DEVICE_ID', 'Expected `deviceId` to be 1-128 letters, digits or _.@:- (the id sent in RG#<deviceId>).');
  }
  return value;
}

export function parseJobId(value: string): string {
  if (!JOB_ID.test(value)) throw new FerryError('JOB_NOT_FOUND', 'No job has that id: job ids are 8-64 letters, digits, _ or -.');
  return value;
}
