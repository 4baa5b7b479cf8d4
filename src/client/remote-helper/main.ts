// `git-remote-ferry <remote> <url>`: git runs it for `ferry::<url>` remotes. Any failure ends it with
// `fatal: ferry: <message>` on stderr and exit 128, as git's own fatal errors do; git then stops.
import { FerryError } from '../../protocol/errors.js';
import { workerConnection } from './connection.js';
import { connectEventRelay } from './event-relay.js';
import { LineReader } from './line-reader.js';
import { serveHelper } from './protocol.js';

async function main(argv: string[]): Promise<number> {
  const [, url] = argv;
  if (url === undefined || url.trim() === '') {
    process.stderr.write('usage: git-remote-ferry <remote> <url>\n(git runs this for remotes such as ferry::https://github.com/owner/repo)\n');
    return 129;
  }
  // Started by `ferry clone`/`ferry pull`: progress goes to that command as events, not to stderr.
  const relay = await connectEventRelay(process.env);
  const connection = workerConnection({ onWarning: (message) => process.stderr.write(`warning: ferry: ${message}\n`) });
  // Ctrl+C reaches git and us alike: stop, but through the finally blocks that remove temporary files.
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await serveHelper({
      url: url.trim(),
      input: new LineReader(process.stdin),
      write: (text) => new Promise<void>((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve()))),
      client: () => connection.client(),
      signal: interrupt.signal,
      onEvent: relay ? (event) => relay.send(event) : undefined,
    });
    return 0;
  } catch (error) {
    process.stderr.write(`fatal: ferry: ${interrupt.signal.aborted ? 'interrupted' : messageOf(error)}\n`);
    return 128;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await connection.close().catch(() => undefined);
    await relay?.close().catch(() => undefined);
  }
}

function messageOf(error: unknown): string {
  if (error instanceof FerryError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

process.exitCode = await main(process.argv.slice(2));
// The gateway's websocket or the embedded stack's timers must not keep git waiting once we are done.
process.exit();
