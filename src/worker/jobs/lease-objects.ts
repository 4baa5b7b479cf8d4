import { createHash } from 'node:crypto';
import type { ObjectStore } from '../storage/oss-store.js';

/*
 * A build lease in the bucket: `leases/<sha256(artifact key)>/<generation>`, generations numbered
 * from 1 and zero-padded so that a listing (in key order) ends with the newest. Only putIfAbsent
 * creates a generation, so of the instances that race for one exactly one gets it; after that only
 * its holder writes it (renewals, then the release marker). See lease.ts for the protocol.
 */

const DIGITS = 12;
const GENERATION = new RegExp(`^\\d{${DIGITS}}$`);

/** What a generation object holds. */
export interface LeaseRecord {
  /** Who holds it, for people: shown to waiters ("another instance is building this"). */
  owner: string;
  /** Who holds it, for the protocol: random per singleBuild call, so two calls never mistake each other's lease. */
  token: string;
  /** The artifact key the lease is for (the object name only has its hash): for operators reading the bucket. */
  key: string;
  /** The job whose build holds it: a later attempt of that job takes it over at once (lease.ts). */
  job?: string;
  /** Holder's clock, milliseconds since the epoch. */
  takenAt: number;
  renewedAt: number;
  /** Set by the holder when it is done; the object stays as the newest generation (lease.ts says why). */
  released?: true;
}

export function leasePrefix(key: string): string {
  return `leases/${createHash('sha256').update(key).digest('hex')}/`;
}

export function generationKey(prefix: string, generation: number): string {
  return `${prefix}${String(generation).padStart(DIGITS, '0')}`;
}

/** The generations present under `prefix`, oldest first; names that are not generations are ignored. */
export async function generations(store: ObjectStore, prefix: string): Promise<number[]> {
  const listed = await store.list(prefix);
  return listed
    .map((object) => object.key.slice(prefix.length))
    .filter((name) => GENERATION.test(name))
    .map(Number)
    .sort((a, b) => a - b);
}

/** The record at `objectKey`; `undefined` when it is gone or is not one this code wrote. */
export async function readLease(store: ObjectStore, objectKey: string): Promise<LeaseRecord | undefined> {
  const text = await store.getText(objectKey);
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<LeaseRecord>;
    const valid =
      typeof value.owner === 'string' &&
      typeof value.token === 'string' &&
      typeof value.key === 'string' &&
      Number.isFinite(value.takenAt) &&
      Number.isFinite(value.renewedAt);
    return valid ? (value as LeaseRecord) : undefined;
  } catch {
    return undefined;
  }
}

export function leaseBody(record: LeaseRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

export const LEASE_HEADERS = { 'content-type': 'application/json' };
