import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/*
 * Who a job counts against: its app key, its device and its source address, each a counter of its own.
 * A client that changes one (a new device id, which it picks itself) is still counted by the others, and
 * the address is the one it cannot choose. Counter names are HMACs (keyed with a deployment secret), so
 * the bucket holds no addresses or app keys in the clear.
 */

export type ClientKind = 'app' | 'dev' | 'ip';

export interface ClientKey {
  kind: ClientKind;
  /** `<kind>-<32 hex>`: the counter's name in the bucket. */
  id: string;
}

export interface ClientIdentity {
  /** `x-ca-key`: the app key API Gateway verified the signature with (APP-authenticated APIs). */
  appKey?: string | null | undefined;
  deviceId?: string | undefined;
  /** `x-forwarded-for` as the gateway passed it. */
  forwardedFor?: string | null | undefined;
}

export const CLIENT_LABELS: Record<ClientKind, string> = { app: 'app key', dev: 'device', ip: 'address' };

const KEY_ID = /^(app|dev|ip)-[0-9a-f]{32}$/;
const APP_KEY = /^[\x21-\x7e]{1,128}$/;

export function clientKeys(identity: ClientIdentity, secret: string): ClientKey[] {
  const keys: ClientKey[] = [];
  const add = (kind: ClientKind, value: string): void => {
    keys.push({ kind, id: `${kind}-${createHmac('sha256', secret).update(`${kind}:${value}`).digest('hex').slice(0, 32)}` });
  };
  if (identity.appKey && APP_KEY.test(identity.appKey)) add('app', identity.appKey);
  if (identity.deviceId) add('dev', identity.deviceId);
  const address = sourceAddress(identity.forwardedFor);
  if (address) add('ip', address);
  return keys;
}

/** Keys as a job's spec carries them to the instance that runs it (job events are signed; still checked). */
export function parseClientKeys(ids: unknown): ClientKey[] {
  if (!Array.isArray(ids)) return [];
  return ids.filter((id): id is string => typeof id === 'string' && KEY_ID.test(id)).map((id) => ({ kind: id.split('-')[0] as ClientKind, id }));
}

/**
 * The client's address: the last entry of X-Forwarded-For, the one the gateway in front added (entries
 * before it are whatever the client sent). An IPv6 address counts by its /64, which one subscriber gets whole.
 */
export function sourceAddress(forwardedFor: string | null | undefined): string | undefined {
  const last = forwardedFor?.split(',').at(-1)?.trim();
  if (!last) return undefined;
  const kind = isIP(last);
  if (kind === 4) return last;
  if (kind !== 6) return undefined;
  // ipaddr.js, as the SSRF guard parses addresses (net/address.ts): every spelling of one /64 is one counter.
  const address = ipaddr.IPv6.parse(last);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  return `${new ipaddr.IPv6([...address.parts.slice(0, 4), 0, 0, 0, 0]).toString()}/64`;
}
