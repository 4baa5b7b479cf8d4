import type { IncomingHttpHeaders } from 'node:http';
import type { Credentials } from '../../protocol/credentials.js';

/** FC hands each invocation temporary STS credentials of the function's role in x-fc-* headers. */
export function invocationCredentials(headers: IncomingHttpHeaders): Credentials | undefined {
  const id = header(headers, 'x-fc-access-key-id');
  const secret = header(headers, 'x-fc-access-key-secret');
  if (!id || !secret) return undefined;
  return { accessKeyId: id, accessKeySecret: secret, securityToken: header(headers, 'x-fc-security-token') };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value || undefined;
}
