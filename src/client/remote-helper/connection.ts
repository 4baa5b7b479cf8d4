// The helper's way to the worker, opened on first use: a push never needs it, so a push neither
// reads ferry's settings nor starts the embedded stack nor sends the worker anything.
import { openEndpoint, readFerryGitConfig, resolveEndpoint, type EmbeddedSettings, type OpenEndpoint } from '../endpoint.js';
import { GatewayClient } from '../gateway-client.js';

export interface WorkerConnection {
  /** Connects on the first call; later calls share the same client. */
  client(): Promise<GatewayClient>;
  close(): Promise<void>;
}

export interface ConnectionSettings {
  env?: NodeJS.ProcessEnv;
  onWarning?: (message: string) => void;
}

export function workerConnection(settings: ConnectionSettings = {}): WorkerConnection {
  let opening: Promise<{ endpoint: OpenEndpoint; client: GatewayClient }> | undefined;
  const open = async (): Promise<{ endpoint: OpenEndpoint; client: GatewayClient }> => {
    const env = settings.env ?? process.env;
    const gitConfig = await readFerryGitConfig({ env });
    const endpoint = await openEndpoint(resolveEndpoint({ env, gitConfig }), { ...embeddedSettings(env, gitConfig), onWarning: settings.onWarning });
    try {
      const client = new GatewayClient({ url: endpoint.gateway, credentials: endpoint.credentials });
      await client.connect();
      return { endpoint, client };
    } catch (error) {
      await endpoint.close();
      throw error;
    }
  };
  return {
    async client() {
      opening ??= open();
      return (await opening).client;
    },
    async close() {
      const opened = await opening?.catch(() => undefined);
      opened?.client.close();
      await opened?.endpoint.close();
    },
  };
}

/**
 * The embedded stack's knobs for when no gateway is configured (what `ferry get` takes as flags):
 * FERRY_ALLOW_HOSTS (comma-separated host[:port]), FERRY_ALLOW_HTTP=1 and FERRY_DATA, or git config
 * ferry.allowHosts, ferry.allowHttp and ferry.data.
 */
export function embeddedSettings(env: NodeJS.ProcessEnv, gitConfig: Record<string, string>): EmbeddedSettings {
  const hosts = env.FERRY_ALLOW_HOSTS || gitConfig['ferry.allowhosts'];
  const http = env.FERRY_ALLOW_HTTP || gitConfig['ferry.allowhttp'];
  const dataDir = env.FERRY_DATA || gitConfig['ferry.data'];
  return {
    allowHosts: hosts ? hosts.split(',').map((host) => host.trim()).filter(Boolean) : undefined,
    allowHttp: http !== undefined && /^(1|true|yes|on)$/i.test(http),
    dataDir: dataDir || undefined,
  };
}
