/** A problem with how the command was called: printed with a hint and exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function usageError(message: string): UsageError {
  return new UsageError(message);
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port expects 0-65535, got "${value}"`);
  return port;
}

/** `--allow-host` entries: `host` or `host:port`, checked the same way by every command that takes them. */
export function parseHostList(hosts: string[] | undefined): string[] | undefined {
  for (const host of hosts ?? []) {
    if (!/^[a-z0-9.-]+(:\d{1,5})?$/i.test(host)) throw usageError(`--allow-host expects host[:port], got "${host}"`);
  }
  return hosts;
}

/** The `Examples:` block after a command's --help. */
export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}
