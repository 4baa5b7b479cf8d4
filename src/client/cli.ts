import { Command, CommanderError } from 'commander';
import { FerryError } from '../protocol/errors.js';
import { VERSION } from '../util/version.js';
import { registerClone } from './commands/clone.js';
import { registerGet } from './commands/get.js';
import { registerPull } from './commands/pull.js';
import { registerServe } from './commands/serve.js';
import { UsageError } from './options.js';

/** 128 + SIGINT, what a shell reports for a command stopped with Ctrl+C. */
const EXIT_INTERRUPTED = 130;

/** `ferry` — one file per command under ./commands; this file only assembles them and maps exits. */
const program = new Command('ferry')
  .description('Fetch git repositories fast from behind a slow link: archives and clones built overseas, downloaded from OSS.')
  .version(VERSION, '-v, --version')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerServe(program);
registerGet(program);
registerClone(program);
registerPull(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  if (error instanceof UsageError) {
    process.stderr.write(`ferry: ${error.message} (run with --help for usage)\n`);
    process.exit(2);
  }
  if (error instanceof FerryError) {
    process.stderr.write(`ferry: ${error.code}: ${error.message}\n`);
    process.exit(error.code === 'INTERRUPTED' ? EXIT_INTERRUPTED : 1);
  }
  process.stderr.write(`ferry: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
}
