/**
 * `rune tool list` and `rune tool call <name> '<json>'`: Rune's tools from a
 * shell — against the running Neovim's MCP server (found as `rune mcp` finds
 * it), or, with `--standalone`, the AI tools alone without Neovim.
 */
import { Command } from 'commander';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { DeniedError } from '../../core/errors.js';
import { VERSION } from '../../core/version.js';
import { discover } from '../../mcp/discover.js';
import { registerAiTools } from '../../tools/ai-tools.js';
import { ToolRegistry } from '../../tools/registry.js';
import { standaloneProviders } from '../standalone.js';
import { CliError, EXIT, interruptSignal, parseJsonArg, print } from '../output.js';

interface Common {
  json?: boolean;
  instance?: string;
  standalone?: boolean;
  config?: string;
}

interface ToolInfo {
  name: string;
  description: string;
  readOnly: boolean;
  inputSchema: unknown;
}

/** The two places tools come from, behind one shape. */
interface ToolSource {
  list(): Promise<ToolInfo[]>;
  call(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<CallToolResult>;
  close(): Promise<void>;
}

async function neovimSource(instance: string | undefined): Promise<ToolSource> {
  const target = await discover({
    instance,
    log: (m) => process.stderr.write(`rune: ${m}\n`),
  });
  const client = new Client({ name: 'rune-cli', version: VERSION });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(target.url), {
      requestInit: { headers: { Authorization: `Bearer ${target.token}` } },
    }),
  );
  return {
    async list() {
      const out: ToolInfo[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : undefined);
        for (const t of page.tools) {
          out.push({
            name: t.name,
            description: t.description ?? '',
            readOnly: t.annotations?.readOnlyHint === true,
            inputSchema: t.inputSchema,
          });
        }
        cursor = page.nextCursor;
      } while (cursor);
      return out;
    },
    async call(name, args, signal) {
      return (await client.callTool({ name, arguments: args }, undefined, {
        signal,
        onprogress: (p) => {
          if (p.message) process.stderr.write(p.message);
        },
        resetTimeoutOnProgress: true,
      })) as CallToolResult;
    },
    close: () => client.close(),
  };
}

async function standaloneSource(config: string | undefined): Promise<ToolSource> {
  const providers = await standaloneProviders(config);
  const registry = new ToolRegistry();
  registerAiTools(registry, () => providers);
  return {
    async list() {
      return registry.list().map((t) => ({
        name: t.def.name,
        description: t.def.description,
        readOnly: t.readOnly,
        inputSchema: z.toJSONSchema(t.schema),
      }));
    },
    async call(name, args, signal) {
      return registry.call(name, args, {
        signal,
        progress: (p) => {
          if (p.message) process.stderr.write(p.message);
        },
        caller: { client: 'rune-cli' },
        review: () => Promise.reject(new DeniedError('edits need a running Neovim to review them')),
      });
    },
    async close() {
      providers.dispose();
    },
  };
}

function source(opts: Common): Promise<ToolSource> {
  return opts.standalone ? standaloneSource(opts.config) : neovimSource(opts.instance);
}

function resultText(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print JSON')
    .option('--instance <address|port|pid>', 'which Neovim (as for `rune mcp`)')
    .option('--standalone', 'without Neovim: only the AI tools, with the standalone config')
    .option('--config <file>', 'the standalone config file (with --standalone)');
}

export function toolCommand(): Command {
  const tool = new Command('tool').description("List and call Rune's tools.");

  tool.addCommand(
    common(new Command('list').description('List the tools.')).action(async (opts: Common) => {
      const src = await source(opts);
      try {
        const tools = await src.list();
        print(opts.json ?? false, tools, () =>
          tools
            .map(
              (t) =>
                `${t.name}${t.readOnly ? '' : ' (writes)'}\n    ${t.description.split('\n')[0]}\n`,
            )
            .join(''),
        );
      } finally {
        await src.close();
      }
    }),
  );

  tool.addCommand(
    common(
      new Command('call')
        .description(
          'Call a tool with JSON arguments, e.g. rune tool call read_buffer \'{"buffer": 1}\'.',
        )
        .argument('<name>', 'the tool')
        .argument('[json]', 'its arguments as a JSON object ("-" reads them from stdin)', '{}'),
    ).action(async (name: string, json: string, opts: Common) => {
      let text = json;
      if (json === '-') {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        text = Buffer.concat(chunks).toString('utf8');
      }
      const args = parseJsonArg(text, 'the arguments');
      const src = await source(opts);
      try {
        const result = await src.call(name, args, interruptSignal());
        print(opts.json ?? false, result, () => `${resultText(result)}\n`);
        if (result.isError) {
          throw new CliError(opts.json ? '' : `tool ${name} failed`, EXIT.failed);
        }
      } finally {
        await src.close();
      }
    }),
  );
  return tool;
}
