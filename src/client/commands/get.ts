import type { Command } from 'commander';
import { resolve } from 'node:path';
import { FerryError, toFerryError } from '../../protocol/errors.js';
import { formatBytes } from '../../util/bytes.js';
import { ARCHIVE_FORMATS, type ArchiveFormat } from '../../protocol/formats.js';
import { parseRefSpec } from '../../protocol/refs.js';
import { isEmptyOrMissing } from '../empty-dir.js';
import { archiveFormatOf, fileTargetOf } from '../file-target.js';
import type { GetResult } from '../get.js';
import { nextCommands } from '../../protocol/next-steps.js';
import { expandShorthand } from '../../protocol/shorthand.js';
import { addEndpointOptions, endpointFromFlags, type EndpointFlags } from '../endpoint-flags.js';
import { examples, usageError } from '../options.js';
import { createView } from '../progress-view.js';

interface GetFlags extends EndpointFlags {
  ref?: string;
  format?: string;
  file?: boolean;
  output?: string;
  force?: boolean;
  extract?: string;
  json?: boolean;
  timeout: string;
  tokenFromGit?: boolean;
}

export function registerGet(program: Command): void {
  addEndpointOptions(
    program
      .command('get <url>')
      .description('Fetch a repository as an archive, or a file (release asset, raw file, source archive, gist), through ferry: live progress, parallel resumable download, sha256 checked.')
      .option('--ref <ref>', 'repositories: branch, tag or commit (default: the default branch)')
      .option('--format <format>', 'repositories: zip or tar.gz (default: zip)')
      .option('--file', 'fetch the URL as a file even when its shape is not one ferry recognises')
      .option('-o, --output <path>', 'a file, or an existing directory to save into (default: the current directory, under the name from the server)')
      .option('--force', 'replace a file at the destination that holds other content')
      .option('--extract <dir>', 'unpack into this new or empty directory, without the top-level folder (archives, and .zip/.tar.gz files)')
      .option('--json', 'print every event as one JSON line on stdout instead of progress bars')
      .option('--token-from-git', "a private repository: ask git's credential helper (git credential fill) for the host's token, instead of FERRY_GIT_TOKEN")
      .option('--timeout <seconds>', 'how long to wait for the job to finish', '600')
      .addHelpText('after', examples([
        'ferry get https://github.com/expressjs/express',
        'ferry get vuejs/core --ref v3.4.0 --format tar.gz --extract ./vue',
        'ferry get https://github.com/cli/cli/releases/download/v2.62.0/gh_2.62.0_linux_amd64.tar.gz -o ~/Downloads',
        'ferry get https://github.com/nodejs/node/blob/main/README.md',
        'ferry get https://github.com/o/r --gateway wss://api.example.com --app-key K --app-secret S',
        'FERRY_GIT_TOKEN=ghp_… ferry get https://github.com/o/private   # a private repository: the token from the environment, never the URL',
      ])),
  ).action(async (input: string, flags: GetFlags) => {
    if (input.trim() === '') throw usageError('expected a repository or file URL such as https://github.com/owner/repo');
    // Deep: `owner/repo/tree/<ref>` and `owner/repo/releases/download/…` mean what they would on github.com.
    const url = expandShorthand(input.trim(), { deep: true }) ?? input.trim();
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== 'https' && scheme !== 'http') {
      throw usageError(`"${scheme}://" is not a scheme ferry fetches: use an https:// URL such as https://github.com/owner/repo`);
    }
    const target = fileTargetOf(url.trim());
    const kind = flags.file || target ? 'file' : 'archive';
    if (kind === 'file') {
      const what = target ? `${url.trim()} names a file (${target.shape})` : '--file fetches the URL as it is';
      if (flags.ref !== undefined) throw usageError(`${what}: --ref is for repositories; the URL itself says which version`);
      if (flags.format !== undefined) throw usageError(`${what}: --format is for repositories; a file comes as it is`);
      if (flags.extract !== undefined && target && !archiveFormatOf(target.filename)) {
        throw usageError(`--extract unpacks .zip and .tar.gz files; ${target.filename} is neither`);
      }
    }
    const format = (flags.format ?? 'zip') as ArchiveFormat;
    if (!ARCHIVE_FORMATS.includes(format)) throw usageError(`--format expects ${ARCHIVE_FORMATS.join(' or ')}, got "${flags.format}"`);
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

    if (kind === 'archive' && flags.ref !== undefined) {
      const tree = treeRefOf(url.trim());
      const wanted = flags.ref.trim();
      // `/tree/<ref>[/<path>]`: --ref may say where the ref ends, but not name another one.
      if (tree !== undefined && tree !== wanted && !tree.startsWith(`${wanted}/`)) {
        throw usageError(`the URL selects ${tree} (its /tree/ part) but --ref says ${wanted}: drop one of them`);
      }
    }
    const { endpoint, local } = await endpointFromFlags(flags);
    if (flags.extract !== undefined) {
      const empty = await isEmptyOrMissing(resolve(flags.extract)).catch((error: Error) => {
        throw usageError(`--extract needs a new or empty directory; ${error.message}`);
      });
      if (!empty) throw usageError(`--extract needs a new or empty directory; ${flags.extract} is not empty`);
    }

    let gitToken: string | undefined;
    if (flags.tokenFromGit) {
      if (kind === 'file') throw usageError('--token-from-git is for private repositories; a file is fetched without a token');
      const { gitCredentialToken } = await import('../git-token.js');
      const repoUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(url.trim()) ? url.trim() : `https://${url.trim()}`;
      gitToken = await gitCredentialToken(repoUrl);
      if (!gitToken) throw usageError(`git's credential helper has no password for ${new URL(repoUrl).host}: store one (git credential approve), or set FERRY_GIT_TOKEN`);
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
        kind,
        ref,
        format: kind === 'archive' ? format : undefined,
        output: flags.output,
        force: flags.force,
        extract: flags.extract,
        gateway: endpoint.gateway,
        credentials: endpoint.credentials,
        ...(gitToken && { gitToken }),
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
        const version = done.commit ? `${done.ref || done.commit.slice(0, 12)} @ ${done.commit.slice(0, 12)}, ` : done.ref ? `${done.ref}, ` : '';
        process.stderr.write(`${version}${formatBytes(done.size)}, sha256 ${done.sha256}${done.cached ? ' (cached)' : ''}\n`);
        const next = nextSteps(result);
        if (next.length > 0) process.stderr.write(`next:\n${next.map((line) => `  ${line}\n`).join('')}`);
      }
    } catch (error) {
      view.stop();
      // ferryGet checks where it saves before submitting anything: a place it cannot use is how it was called.
      if (error instanceof FerryError && error.code === 'OUTPUT_UNUSABLE') throw usageError(`-o: ${error.message.replace(/\.$/, '')}`);
      // Whatever the interrupt broke off (the job wait, the download) reports itself as stopped: say what happened instead.
      const failure = interrupt.signal.aborted ? interrupted() : toFerryError(error);
      if (flags.json) view.event({ type: 'failed', code: failure.code, message: failure.message });
      throw interrupt.signal.aborted || !(error instanceof FerryError) ? failure : error;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}

function interrupted(): FerryError {
  return new FerryError('INTERRUPTED', 'Interrupted. A download that had started continues where it stopped when you run the same command again.');
}

/**
 * Commands a user may want after a get: the signed link for another machine (not from the embedded stack,
 * whose links end with the command), and a clone of the repository through ferry.
 */
function nextSteps(result: GetResult): string[] {
  const { done } = result;
  const commands = nextCommands(done, result.kind === 'archive' ? result.repo : undefined);
  const lines: string[] = [];
  if (!result.embedded && /^https?:\/\//.test(done.url)) lines.push(`${commands.curl}   # the link works until ${done.expiresAt}`);
  if (commands.clone) lines.push(`${commands.clone}   # the whole history, through ferry`);
  return lines;
}

/** What follows `/tree/` in a repository page's URL (`…/owner/repo/tree/<ref>[/<path>]`), decoded. */
function treeRefOf(url: string): string | undefined {
  try {
    const parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`);
    const segments = parsed.pathname.split('/').filter(Boolean);
    const at = segments.indexOf('tree');
    // GitLab spells it `/-/tree/`; owner and repository come first either way.
    if (at < 2 || at === segments.length - 1) return undefined;
    return segments.slice(at + 1).map((segment) => decodeURIComponent(segment)).join('/');
  } catch {
    return undefined;
  }
}
