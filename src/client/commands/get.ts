import type { Command } from 'commander';

export function registerGet(program: Command): void {
  program.command('get <url>').description('not yet').action(() => undefined);
}
