// Why an upstream (a git host, a file's host) could not be reached, said the same way whether node or
// git saw it. "Try again" only where trying again can help: a name that does not resolve, a port nobody
// listens on or a certificate that does not verify will fail the same way in a minute.

export type UpstreamCause =
  | { kind: 'dns'; name: string }
  | { kind: 'dns-busy'; name: string }
  | { kind: 'refused' }
  | { kind: 'no-route' }
  | { kind: 'timeout' }
  | { kind: 'reset'; detail?: string }
  | { kind: 'tls'; detail: string }
  | { kind: 'proxy'; detail: string }
  | { kind: 'other'; detail: string };

/** One sentence (ending in a full stop) about `host` (`name[:port]`). */
export function describeCause(cause: UpstreamCause, host: string): string {
  switch (cause.kind) {
    case 'dns':
      return `The host name ${cause.name} could not be resolved (DNS): check the spelling, this machine's network and DNS settings, or set HTTPS_PROXY if the network needs a proxy.`;
    case 'dns-busy':
      return `Could not resolve ${cause.name}: the DNS server did not answer. Try again.`;
    case 'refused':
      return `${host} refused the connection: nothing accepts connections on that port, or a firewall rejects them.`;
    case 'no-route':
      return `There is no network route to ${host}: check this machine's network, or set HTTPS_PROXY if the network needs a proxy.`;
    case 'timeout':
      return `${host} did not answer in time (timed out). Try again later.`;
    case 'reset':
      return `The connection to ${host} broke off${cause.detail ? ` (${cause.detail})` : ''}. Try again.`;
    case 'tls':
      return `The TLS handshake with ${host} failed (${cause.detail}): check this machine's clock and CA certificates, or a proxy that intercepts https.`;
    case 'proxy':
      return `The proxy in HTTPS_PROXY/HTTP_PROXY failed on the way to ${host}: ${cause.detail}. Check the proxy setting.`;
    case 'other':
      return `The connection to ${host} failed: ${cause.detail}.`;
  }
}

