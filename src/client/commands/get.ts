import type { Command } from 'commander';
import { resolve } from 'node:path';
import { FerryError, toFerryError } from '../../protocol/errors.js';
import { formatBytes } from '../../util/bytes.js';
import { ARCHIVE_FORMATS, type ArchiveFormat } from '../../protocol/formats.js';
import { parseRefSpec } from '../../protocol/refs.js';
import { isEmptyOrMissing } from '../empty-dir.js';
import { addEndpointOptions, endpointFromFlags, type EndpointFlags } from '../endpoint-flags.js';
import { usageError } from '../options.js';
import { createView } from '../progress-view.js';

interface GetFlags extends EndpointFlags {
  ref?: string;
  format: string;
  output?: string;
  extract?: string;
  json?: boolean;
  timeout: string;
}

export function registerGet(program: Command): void {
  addEndpointOptions(
    program
      .command('get <url>')
      .description('Fetch a repository as an archive through ferry: live progress, resumable download, sha256 checked.')
      .option('--ref <ref>', 'branch, tag or commit (default: the default branch)')
      .option('--format <format>', 'zip or tar.gz', 'zip')
      .option('-o, --output <file>', 'where to save the archive (default: its name from the server)')
      .option('--extract <dir>', 'unpack into this new or empty directory, without the top-level folder')
      .option('--json', 'print every event as one JSON line on stdout instead of progress bars')
      .option('--timeout <seconds>', 'how long to wait for the job to finish', '600'),
  ).action(async (url: string, flags: GetFlags) => {
    const format = flags.format as ArchiveFormat;
    if (!ARCHIVE_FORMATS.includes(format)) throw usageError(`--format expects ${ARCHIVE_FORMATS.join(' or ')}, got "${flags.format}"`);
    if (url.trim() === '') throw usageError('expected a repository URL such as https://github.com/owner/repo');
    const timeout = Number(flags.timeout);
    if (!Number.isFinite(timeout) || timeout <= 0) throw usageError(`--timeout expects a number of seconds above 0, got "${flags.timeout}"`);
    const ref = flags.ref?.trim();
    if (ref === '') throw usageError('--ref must not be empty');
    if (ref !== undefined) {
      try {
        parseRefSpec(ref);
      } catch (error) {
        throw usageError(`--ref: ${(error as Error).message.replace(/\.$/, '')}`);
      }
    }

    const { endpoint, local } = await endpointFromFlags(flags);
    if (flags.extract !== undefined) {
      const empty = await isEmptyOrMissing(resolve(flags.extract)).catch((error: Error) => {
        throw usageError(`--extract needs a new or empty directory; ${error.message}`);
      });
      if (!empty) throw usageError(`--extract needs a new or empty directory; ${flags.extract} is not empty`);
    }

    // Loaded here, not at start-up: the gateway client (ws) is not needed by --help or serve.
    const { ferryGet } = await import('../get.js');
    const view = await createView(flags.json ? 'json' : 'auto');
    if (endpoint.gateway !== undefined && (flags.allowHost || flags.allowHttp || flags.data)) {
      view.event({ type: 'warning', message: '--allow-host, --allow-http and --data configure the embedded stack only; ignored with --gateway' });
    }
    const interrupt = new AbortController();
    const onSignal = (): void => interrupt.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const result = await ferryGet({
        url: url.trim(),
        ref,
        format,
        output: flags.output,
        extract: flags.extract,
        gateway: endpoint.gateway,
        credentials: endpoint.credentials,
        local,
        timeoutMs: timeout * 1000,
        signal: interrupt.signal,
        onEvent: (event) => view.event(event),
      });
      view.stop();
      if (!flags.json) {
        const { done } = result;
        const where = [result.path, result.dir && `extracted to ${result.dir}`].filter(Boolean).join(', ');
        process.stdout.write(`${where}\n`);
        process.stderr.write(`${done.ref} @ ${done.commit.slice(0, 12)}, ${formatBytes(done.size)}, sha256 ${done.sha256}${done.cached ? ' (cached)' : ''}\n`);
      }
    } catch (error) {
      view.stop();
      const failure = interrupt.signal.aborted ? new FerryError('TIMEOUT', 'Interrupted.') : toFerryError(error);
      if (flags.json) view.event({ type: 'failed', code: failure.code, message: failure.message });
      throw error instanceof FerryError || !interrupt.signal.aborted ? error : failure;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
