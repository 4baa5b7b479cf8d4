// The conversation with git on stdin/stdout (gitremote-helpers(7)): `capabilities`, `option`, `list`,
// batches of `fetch` and of `push`, each batch ended by a blank line; a blank line or EOF ends it all.
import { rm } from 'node:fs/promises';
import { FerryError } from '../../protocol/errors.js';
import type { CliEvent } from '../events.js';
import type { GatewayClient } from '../gateway-client.js';
import type { GatewayClientLike } from '../job-follow.js';
import { fetchThroughFerry } from './fetch.js';
import type { LineReader } from './line-reader.js';
import { listForPush, listLines } from './list.js';
import { applyOption, defaultOptions, type HelperOptions } from './options.js';
import { createProgress } from './progress.js';
import { pushToRemote } from './push.js';

export type WorkerClient = GatewayClientLike & Pick<GatewayClient, 'refs'>;

export const CAPABILITIES = ['fetch', 'option', 'push', 'check-connectivity'];

export interface HelperSession {
  /** The real remote's URL (`https://github.com/o/r`), what `ferry::` prefixed. */
  url: string;
  input: LineReader;
  /** Everything for git goes here; waits until it is written. */
  write(text: string): Promise<void>;
  /** The worker, opened on first use (never by a push). */
  client(): Promise<WorkerClient>;
  stderr?: NodeJS.WritableStream;
  /** Stops a fetch under way (Ctrl+C): its download and temporary files are cleaned up before the helper exits. */
  signal?: AbortSignal;
  /** Progress as events for the command that started git (instead of stderr lines). */
  onEvent?: ((event: CliEvent) => void) | undefined;
}

export async function serveHelper(session: HelperSession): Promise<void> {
  const options = defaultOptions();
  // Packs kept for git beyond the one `lock` line it accepts per fetch: released when git is done with us.
  const extraKeeps: string[] = [];
  // What the last `list` showed; fetches are checked against it.
  const listed = new Set<string>();
  try {
    for (;;) {
      const line = await session.input.next();
      if (line === undefined || line === '') return;
      const [command = '', ...rest] = line.split(' ');
      const argument = rest.join(' ');
      if (command === 'capabilities') await session.write(`${CAPABILITIES.join('\n')}\n\n`);
      else if (command === 'option') await session.write(`${option(options, argument)}\n`);
      else if (line === 'list' || line === 'list for-push') await session.write(lines(await list(session, line === 'list for-push', listed)));
      else if (command === 'fetch') await fetchBatch(session, options, line, extraKeeps, listed);
      else if (command === 'push') await pushBatch(session, options, line);
      else throw new FerryError('BAD_REQUEST', `git sent a command ferry does not know: "${line.slice(0, 100)}"`);
    }
  } finally {
    await Promise.all(extraKeeps.map((file) => rm(file, { force: true })));
  }
}

function option(options: HelperOptions, argument: string): string {
  const space = argument.indexOf(' ');
  const name = space < 0 ? argument : argument.slice(0, space);
  return applyOption(options, name, space < 0 ? '' : argument.slice(space + 1));
}

async function list(session: HelperSession, forPush: boolean, listed: Set<string>): Promise<string[]> {
  if (forPush) return listForPush(session.url);
  const client = await session.client();
  const answer = await client.refs(session.url);
  listed.clear();
  for (const ref of answer.refs) listed.add(ref.oid);
  return listLines(answer);
}

/** Reads the rest of a batch (`<first>` already read) up to its blank line; `option` lines inside it are answered at once. */
async function readBatch(session: HelperSession, options: HelperOptions, first: string, command: string): Promise<string[]> {
  const batch = [first.slice(command.length + 1)];
  for (;;) {
    const line = await session.input.next();
    if (line === undefined || line === '') return batch;
    if (line.startsWith('option ')) await session.write(`${option(options, line.slice('option '.length))}\n`);
    else if (line.startsWith(`${command} `)) batch.push(line.slice(command.length + 1));
    else throw new FerryError('BAD_REQUEST', `git sent "${line.slice(0, 100)}" inside a ${command} batch`);
  }
}

async function fetchBatch(session: HelperSession, options: HelperOptions, first: string, extraKeeps: string[], listed: ReadonlySet<string>): Promise<void> {
  const wants = (await readBatch(session, options, first, 'fetch')).map((entry) => entry.split(' ')[0] as string);
  const progress = createProgress({ progress: options.progress, verbosity: options.verbosity, stream: session.stderr, onEvent: session.onEvent });
  const outcome = await fetchThroughFerry({
    url: session.url,
    wants,
    client: await session.client(),
    progress,
    gitProgress: options.progress && options.verbosity > 0,
    signal: session.signal,
    listed: listed.size > 0 ? listed : undefined,
  });
  // git accepts one `lock` per fetch; the other packs stay kept until the session ends, after git updated the refs.
  const [lock, ...others] = outcome.keepFiles;
  extraKeeps.push(...others);
  // One full bundle is one pack holding every object its refs reach: git may skip walking the history.
  const connected = options.checkConnectivity && outcome.selfContained && lock !== undefined;
  await session.write(`${lock ? `lock ${lock}\n` : ''}${connected ? 'connectivity-ok\n' : ''}\n`);
}

async function pushBatch(session: HelperSession, options: HelperOptions, first: string): Promise<void> {
  const refspecs = await readBatch(session, options, first, 'push');
  await session.write(lines(await pushToRemote(session.url, refspecs, options)));
}

function lines(items: string[]): string {
  return `${items.map((item) => `${item}\n`).join('')}\n`;
}
