import type { Credentials } from '../../protocol/credentials.js';

/** What FC knows about the function; it reaches the runtime as env (per instance) and headers (per call). */
export interface FcContext {
  functionName: string;
  region: string;
  accountId?: string;
  credentials?: Credentials;
}

// Fixed function settings. FC sends them per invocation; nothing in ferry reads them yet, so they
// are constants rather than options. The timeout also bounds how long the emulator waits.
const FUNCTION_HANDLER = 'index.handler';
const FUNCTION_MEMORY_MB = 1024;
export const FUNCTION_TIMEOUT_S = 600;

export function fcHeaders(ctx: FcContext, requestId: string): Record<string, string> {
  const headers: Record<string, string> = {
    'x-fc-request-id': requestId,
    'x-fc-function-name': ctx.functionName,
    'x-fc-region': ctx.region,
    'x-fc-function-handler': FUNCTION_HANDLER,
    'x-fc-function-memory': String(FUNCTION_MEMORY_MB),
    'x-fc-function-timeout': String(FUNCTION_TIMEOUT_S),
  };
  if (ctx.accountId !== undefined) headers['x-fc-account-id'] = ctx.accountId;
  const creds = ctx.credentials;
  if (creds) {
    headers['x-fc-access-key-id'] = creds.accessKeyId;
    headers['x-fc-access-key-secret'] = creds.accessKeySecret;
    if (creds.securityToken !== undefined) headers['x-fc-security-token'] = creds.securityToken;
  }
  return headers;
}

// FC gives an instance a clean env: only PATH and HOME are inherited (bash needs PATH to find node, git
// needs HOME). FC's own variables override `extra`.
export function runtimeEnv(ctx: FcContext, port: number, instanceId: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  Object.assign(env, extra, {
    FC_SERVER_PORT: String(port),
    FC_CUSTOM_LISTEN_PORT: String(port),
    FC_FUNCTION_NAME: ctx.functionName,
    FC_REGION: ctx.region,
    FC_INSTANCE_ID: instanceId,
  });
  if (ctx.accountId !== undefined) env.FC_ACCOUNT_ID = ctx.accountId;
  const creds = ctx.credentials;
  if (creds) {
    env.ALIBABA_CLOUD_ACCESS_KEY_ID = creds.accessKeyId;
    env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = creds.accessKeySecret;
    if (creds.securityToken !== undefined) env.ALIBABA_CLOUD_SECURITY_TOKEN = creds.securityToken;
  }
  return env;
}
