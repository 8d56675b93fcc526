#!/usr/bin/env node
/**
 * The `rune` command. Each subcommand lives in its own file under
 * src/cli/commands/ and adds itself to the program. Exit codes: the table in
 * src/cli/output.ts.
 */
import { Command, CommanderError } from 'commander';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../core/version.js';
import { toRuneError } from '../core/errors.js';
import { authCommand } from './auth.js';
import { chatCommand } from './commands/chat.js';
import { doctorCommand } from './commands/doctor.js';
import { mcpCommand } from './commands/mcp.js';
import { modelsCommand } from './commands/models.js';
import { toolCommand } from './commands/tool.js';
import { EXIT, exitCodeFor, exitCodeHelp } from './output.js';

/** The program with every subcommand, for `main` and for tests. */
export function buildProgram(): Command {
  const program = new Command('rune')
    .description('Rune, the Neovim AI companion, from the command line.')
    .version(VERSION)
    .showHelpAfterError()
    .addHelpText('after', exitCodeHelp())
    .exitOverride();
  for (const add of [
    mcpCommand,
    toolCommand,
    modelsCommand,
    chatCommand,
    authCommand,
    doctorCommand,
  ]) {
    program.addCommand(add());
  }
  // Every command, nested ones too, ends through `main` with a code from the table.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

/** Runs the CLI with `argv` (as process.argv) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (message) process.stderr.write(`rune: ${toRuneError(err).message}\n`);
    return exitCodeFor(err);
  }
}

const self = (() => {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (self) {
  main(process.argv).then((code) => {
    process.exitCode = code;
    // Keep-alive sockets and watchers must not hold a finished command open.
    setImmediate(() => process.exit(code));
  });
}
