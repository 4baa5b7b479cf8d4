// The flags every command that talks to the worker takes, and how they become an endpoint: one
// definition, so `ferry clone`, `ferry pull` and the remote helper read settings the same way.
import type { Command } from 'commander';
import { FerryError } from '../protocol/errors.js';
import { readFerryGitConfig, resolveEndpoint, type EmbeddedSettings, type EndpointSettings } from './endpoint.js';
import { parseHostList, usageError } from './options.js';

export interface EndpointFlags {
  gateway?: string;
  appKey?: string;
  appSecret?: string;
  allowHost?: string[];
  allowHttp?: boolean;
  data?: string;
}

export function addEndpointOptions(command: Command): Command {
  return command
    .option('--gateway <ws-url>', 'API Gateway or `ferry serve` websocket URL (env FERRY_GATEWAY, git config ferry.gateway); default: an embedded local stack')
    .option('--app-key <key>', 'app key for signing requests (env FERRY_APP_KEY, git config ferry.appKey)')
    .option('--app-secret <secret>', 'app secret for signing requests (env FERRY_APP_SECRET, git config ferry.appSecret)')
    .option('--allow-host <host...>', 'embedded stack: also allow repositories on these host[:port] entries')
    .option('--allow-http', 'embedded stack: allow plain http:// repository URLs')
    .option('--data <dir>', 'embedded stack: data directory (default: ${XDG_CACHE_HOME:-~/.cache}/ferry/local)');
}

/** Flags, then FERRY_* environment, then git config `ferry.*`; a bad value is a usage error. */
export async function endpointFromFlags(flags: EndpointFlags, cwd?: string): Promise<{ endpoint: EndpointSettings; local: EmbeddedSettings }> {
  const gitConfig = await readFerryGitConfig({ cwd });
  let endpoint: EndpointSettings;
  try {
    endpoint = resolveEndpoint({ flags, env: process.env, gitConfig });
  } catch (error) {
    throw error instanceof FerryError ? usageError(error.message.replace(/\.$/, '')) : error;
  }
  return { endpoint, local: { dataDir: flags.data, allowHosts: parseHostList(flags.allowHost), allowHttp: flags.allowHttp } };
}
