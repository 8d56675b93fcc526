#!/usr/bin/env node
/**
 * The `rune` command. Each subcommand lives in its own file under
 * src/cli/commands/ and adds itself to the program; `rune mcp` is the first.
 */
import { Command } from 'commander';
import { VERSION } from '../core/version.js';
import { mcpCommand } from './commands/mcp.js';

/** The program with every subcommand, for `main` and for tests. */
export function buildProgram(): Command {
  const program = new Command('rune')
    .description('Rune, the Neovim AI companion, from the command line.')
    .version(VERSION)
    .showHelpAfterError();
  for (const add of [mcpCommand]) program.addCommand(add());
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`rune: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
