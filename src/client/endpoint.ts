// Where a command or the remote helper sends its requests: one resolution shared by `ferry get`,
// `ferry clone`, `ferry pull` and `git-remote-ferry`, so each finds the same gateway the same way.
import { execFile } from 'node:child_process';
import type { AppCredentials } from '../protocol/apigw-signature.js';
import { FerryError } from '../protocol/errors.js';

export interface EndpointSettings {
  /** ws:// or wss:// URL; undefined means the embedded local stack. */
  gateway?: string | undefined;
  credentials?: AppCredentials | undefined;
}

/** Each source in order of precedence: flags, then the environment, then git config (`ferry.*`). */
export interface EndpointSources {
  flags?: { gateway?: string | undefined; appKey?: string | undefined; appSecret?: string | undefined };
  env?: NodeJS.ProcessEnv;
  /** `ferry.gateway`, `ferry.appKey`, `ferry.appSecret` as git reads them (lower-cased keys). */
  gitConfig?: Record<string, string>;
}

const GATEWAY_URL = /^wss?:\/\/[^/\s]+/i;

/** Picks each setting from the first source that has it; throws BAD_REQUEST naming the source of a bad value. */
export function resolveEndpoint(sources: EndpointSources): EndpointSettings {
  const env = sources.env ?? {};
  const config = sources.gitConfig ?? {};
  const pick = (flag: string | undefined, envName: string, configKey: string): { value: string; from: string } | undefined => {
    if (flag !== undefined) return { value: flag, from: `--${configKey.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` };
    if (env[envName]) return { value: env[envName] as string, from: envName };
    const fromConfig = config[`ferry.${configKey.toLowerCase()}`];
    if (fromConfig) return { value: fromConfig, from: `git config ferry.${configKey}` };
    return undefined;
  };
  const gateway = pick(sources.flags?.gateway, 'FERRY_GATEWAY', 'gateway');
  if (gateway && !GATEWAY_URL.test(gateway.value)) {
    throw new FerryError('BAD_REQUEST', `${gateway.from} expects a ws:// or wss:// URL, got "${gateway.value}".`);
  }
  const appKey = pick(sources.flags?.appKey, 'FERRY_APP_KEY', 'appKey');
  const appSecret = pick(sources.flags?.appSecret, 'FERRY_APP_SECRET', 'appSecret');
  if ((appKey === undefined) !== (appSecret === undefined)) {
    const [have, missing] = appKey ? [appKey.from, 'the app secret'] : [(appSecret as { from: string }).from, 'the app key'];
    throw new FerryError('BAD_REQUEST', `--app-key and --app-secret go together (as FERRY_APP_KEY and FERRY_APP_SECRET, or git config ferry.appKey and ferry.appSecret): ${have} is set but ${missing} is not.`);
  }
  return {
    gateway: gateway?.value,
    credentials: appKey && appSecret ? { appKey: appKey.value, appSecret: appSecret.value } : undefined,
  };
}

/** `git config --get-regexp ^ferry\.` (any repository's and the global config); empty when git finds none. */
export function readFerryGitConfig(options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Record<string, string>> {
  return new Promise((resolve) => {
    execFile('git', ['config', '--get-regexp', '^ferry\\.'], { cwd: options.cwd, env: options.env, timeout: 10_000 }, (error, stdout) => {
      // Exit 1 means no such keys; any other failure (no git) leaves the config empty too.
      const config: Record<string, string> = {};
      if (!error) {
        for (const line of stdout.split('\n')) {
          const space = line.indexOf(' ');
          if (space > 0) config[line.slice(0, space).toLowerCase()] = line.slice(space + 1);
        }
      }
      resolve(config);
    });
  });
}

export interface OpenEndpoint {
  gateway: string;
  credentials: AppCredentials | undefined;
  /** True when this process started the embedded stack (then `close` stops it). */
  embedded: boolean;
  close(): Promise<void>;
}

export interface EmbeddedSettings {
  dataDir?: string | undefined;
  allowHosts?: string[] | undefined;
  allowHttp?: boolean | undefined;
  onWarning?: (message: string) => void;
}

/** The configured gateway as is, or the embedded local stack started in this process. */
export async function openEndpoint(settings: EndpointSettings, local: EmbeddedSettings = {}): Promise<OpenEndpoint> {
  if (settings.gateway !== undefined) {
    return { gateway: settings.gateway, credentials: settings.credentials, embedded: false, close: async () => undefined };
  }
  // Loaded only when needed: a client talking to a real gateway never touches the emulators.
  const { startEmbeddedStack } = await import('../local/embedded.js');
  const stack = await startEmbeddedStack(local);
  return {
    gateway: stack.gateway,
    credentials: { appKey: stack.appKey, appSecret: stack.appSecret },
    embedded: true,
    close: () => stack.close(),
  };
}
