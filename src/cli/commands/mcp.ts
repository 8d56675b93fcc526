/**
 * `rune mcp`: a stdio MCP server for agents that spawn a command (Claude Code
 * and Claude Desktop `mcpServers`, zeke's `ZEKE_MCP_COMMAND`), proxying to the
 * MCP server of the right running Neovim. stdout carries only the protocol;
 * messages for people go to stderr.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { discover } from '../../mcp/discover.js';
import { runStdioProxy } from '../../mcp/proxy.js';
import { exitCodeFor } from '../output.js';

export function mcpCommand(): Command {
  return new Command('mcp')
    .description(
      "Serve the running Neovim's tools over stdio (MCP), for agents that spawn a command.",
    )
    .option(
      '--instance <address|port|pid>',
      'which Neovim: its server address (v:servername), or the port or pid of its Rune server',
    )
    .addOption(
      new Option('--timeout <ms>', 'how long to wait for a Neovim whose Rune host is starting')
        .default('20000')
        .argParser((v) => {
          const n = Number(v);
          if (!Number.isFinite(n) || n < 0)
            throw new InvalidArgumentError(`--timeout wants milliseconds, got ${v}`);
          return String(n);
        }),
    )
    .option('--print', 'print the server found (URL and how) and exit, without serving')
    .option('--verbose', 'report what happens on stderr')
    .action(
      async (opts: { instance?: string; timeout: string; print?: boolean; verbose?: boolean }) => {
        const log = (msg: string) => {
          if (opts.verbose) process.stderr.write(`rune mcp: ${msg}\n`);
        };
        let target;
        try {
          target = await discover({
            instance: opts.instance,
            timeoutMs: Number(opts.timeout),
            log: (m) => process.stderr.write(`rune mcp: ${m}\n`),
          });
        } catch (err) {
          process.stderr.write(`rune mcp: ${(err as Error).message}\n`);
          process.exitCode = exitCodeFor(err);
          return;
        }
        log(`serving ${target.url} (found through ${target.via})`);
        if (opts.print) {
          process.stdout.write(`${target.url} (found through ${target.via})\n`);
          return;
        }
        await runStdioProxy(target, { log });
        // Sockets left by the HTTP client would keep the process alive after stdin closed.
        process.exit(0);
      },
    );
}
