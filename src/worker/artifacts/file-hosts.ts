import type { Config } from '../config.js';
import { FerryError } from '../../protocol/errors.js';

export type FileHostPolicy = Pick<Config, 'allowedHosts' | 'fileHosts' | 'allowHttp'>;

/**
 * The check a file job applies to its first URL and, through openUpstream, to every redirect hop: http(s)
 * only, plain http only with FERRY_ALLOW_HTTP, and a host in FERRY_ALLOWED_HOSTS or FERRY_FILE_HOSTS. A
 * release asset redirects to a second host, so that host must be on the list by name too. One policy per
 * fetch: it remembers the previous hop to say where a refused redirect came from.
 */
export function fileUrlPolicy(config: FileHostPolicy): (url: URL) => void {
  let previous: URL | undefined;
  return (url) => {
    const from = previous;
    previous = url;
    const via = from ? ` (${from.host} redirected there)` : '';
    const protocol = url.protocol.slice(0, -1);
    if (protocol !== 'https' && protocol !== 'http') {
      throw new FerryError(from ? 'HOST_NOT_ALLOWED' : 'INVALID_URL', `Only https:// files are fetched, not ${url.protocol}//${via}.`);
    }
    if (protocol === 'http' && !config.allowHttp) {
      throw new FerryError(
        from ? 'HOST_NOT_ALLOWED' : 'INVALID_URL',
        `Plain http:// is not fetched${via}: use https://. To allow it: --allow-http for ferry get and ferry serve, FERRY_ALLOW_HTTP=1 for a deployed worker.`,
      );
    }
    // URL drops default ports: `host` is `name` or `name:port`, as the lists spell them.
    const host = url.host.toLowerCase();
    if (!config.allowedHosts.includes(host) && !config.fileHosts.includes(host)) {
      throw new FerryError(
        'HOST_NOT_ALLOWED',
        `Files on ${host} are not served here${via}. An operator allows it by adding ${host} to FERRY_FILE_HOSTS (now: ${config.fileHosts.join(', ') || 'empty'}).`,
      );
    }
  };
}
