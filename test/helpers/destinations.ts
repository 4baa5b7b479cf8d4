// The loopback servers this test file started (git servers, file upstreams), as `host:port` entries for
// FERRY_ALLOWED_DESTINATIONS: the SSRF guard refuses loopback, so a test allows exactly its own servers. Each
// test file has its own module instance, so the list never holds another file's servers.
export const testDestinations: string[] = [];

export function allowTestDestination(host: string): void {
  if (!testDestinations.includes(host)) testDestinations.push(host);
}
