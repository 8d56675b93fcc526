/**
 * Shared setup for the chat tests: a real headless Neovim, the host core
 * in-process with the chat module, and a provider registry whose providers
 * talk HTTP to the wire-faithful fake servers in test/helpers/servers.
 */
import { parserCmds, startNvim, waitFor, type TestNvim } from '../helpers/nvim.js';
import { startInProcessHost } from '../helpers/host.js';
import { setProviderRegistry } from '../../src/nvim/providers.js';
import { chatModule } from '../../src/nvim/chat/index.js';
import type { HostModule, ReadyHost } from '../../src/nvim/host.js';
import type { ProviderRegistry } from '../../src/providers/types.js';
import { ConfigError } from '../../src/core/errors.js';

/** Chat tests load Neovim's bundled parsers (markdown) the same way everywhere. */
export { parserCmds };

/** A registry with no provider at all (what the Provider contract reports as a ConfigError). */
export function emptyRegistry(): ProviderRegistry {
  return {
    get() {
      throw new ConfigError('providers', 'no provider is configured');
    },
    list: () => [],
    usage: () => [],
    dispose() {},
  };
}

export interface ChatHarness {
  t: TestNvim;
  host: ReadyHost & { logLines: string[] };
  lines(buf?: number): Promise<string[]>;
  text(buf?: number): Promise<string>;
  /** The chat buffer (the one `:RuneChat` opened). */
  chatBuf(): Promise<number>;
  /** Waits until the chat has finished streaming (its last line is the empty prompt line). */
  idle(buf?: number): Promise<void>;
}

export interface ChatOptions {
  /** The `providers` section of setup(), e.g. `{ local: { kind: 'ollama', url } }`. */
  providers?: Record<string, Record<string, unknown>>;
  /** The `chat` section of setup() (start_insert is off unless given). */
  chat?: Record<string, unknown>;
  /** Other top-level options of setup(), e.g. `default_provider`. */
  setup?: Record<string, unknown>;
  /** A registry to inject instead of the one built from `providers`. */
  registry?: ProviderRegistry;
  /** More host modules to run beside the chat (e.g. the MCP hub). */
  modules?: HostModule[];
  /** Extra `--cmd` commands (e.g. `cd` into a project folder). */
  preCmds?: string[];
  /** The private XDG home to use (created by the caller). */
  home?: string;
}

/** An Ollama provider entry for the fake server at `url`, failing fast (no retries). */
export function ollamaAt(
  url: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { kind: 'ollama', url, retry: { max_attempts: 1 }, ...extra };
}

export async function startChat(opts: ChatOptions = {}): Promise<ChatHarness> {
  const config = {
    ...opts.setup,
    ...(opts.providers ? { providers: opts.providers } : {}),
    chat: { start_insert: false, ...opts.chat },
  };
  const setup = `require("rune").setup(vim.json.decode(${JSON.stringify(JSON.stringify(config))}))`;
  const t = await startNvim({
    setup,
    preCmds: [...parserCmds(), ...(opts.preCmds ?? [])],
    ...(opts.home ? { home: opts.home } : {}),
  });
  const host = await startInProcessHost(t, [chatModule(), ...(opts.modules ?? [])]);
  if (opts.registry) setProviderRegistry(host, opts.registry);
  const chatBuf = async () => {
    const b = await t.lua<number | null>(
      'for _, b in ipairs(vim.api.nvim_list_bufs()) do if vim.b[b].rune_chat_id then return b end end return nil',
    );
    if (!b) throw new Error('no chat buffer');
    return b;
  };
  const lines = async (buf?: number) =>
    t.lua<string[]>('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', [
      buf ?? (await chatBuf()),
    ]);
  return {
    t,
    host,
    lines,
    text: async (buf) => (await lines(buf)).join('\n'),
    chatBuf,
    idle: async (buf) => {
      const b = buf ?? (await chatBuf());
      await waitFor(
        async () => {
          const busy = await t.lua<boolean>('return vim.b[...].rune_chat_busy == true', [b]);
          const l = await lines(b);
          return !busy && l[l.length - 1] === '' && l[l.length - 2] === '## You';
        },
        10000,
        'the answer to finish',
      );
    },
  };
}

/**
 * What a person sees: a UI attached to the headless Neovim (ext_linegrid), with
 * the grid rebuilt from the `redraw` notifications.
 */
export class Screen {
  rows: string[][] = [];

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.resize(width, height);
  }

  static async attach(t: TestNvim, width = 80, height = 24): Promise<Screen> {
    const screen = new Screen(width, height);
    t.nvim.on('notification', (method: string, args: unknown[]) => {
      if (method === 'redraw') screen.apply(args as [string, ...unknown[][]][]);
    });
    await t.nvim.uiAttach(width, height, { ext_linegrid: true, rgb: true });
    return screen;
  }

  private resize(w: number, h: number): void {
    this.rows = Array.from({ length: h }, () => Array.from({ length: w }, () => ' '));
  }

  apply(batches: [string, ...unknown[][]][]): void {
    for (const [name, ...calls] of batches) {
      for (const a of calls) {
        if (name === 'grid_resize') this.resize(a[1] as number, a[2] as number);
        else if (name === 'grid_clear') this.resize(this.rows[0]?.length ?? 0, this.rows.length);
        else if (name === 'grid_line') this.line(a);
        else if (name === 'grid_scroll') this.scroll(a as number[]);
      }
    }
  }

  private line(a: unknown[]): void {
    const row = this.rows[a[1] as number];
    if (!row) return;
    let col = a[2] as number;
    for (const cell of a[3] as [string, number?, number?][]) {
      const repeat = cell[2] ?? 1;
      for (let i = 0; i < repeat; i++) row[col++] = cell[0];
    }
  }

  private scroll([, top, bot, left, right, rows]: number[]): void {
    const copy = this.rows.map((r) => [...r]);
    for (let r = top!; r < bot!; r++) {
      const src = r + rows!;
      if (src < top! || src >= bot!) continue;
      for (let c = left!; c < right!; c++) this.rows[r]![c] = copy[src]![c]!;
    }
  }

  /** The visible rows as text (trailing spaces removed). */
  text(): string[] {
    return this.rows.map((r) => r.join('').replace(/\s+$/, ''));
  }
}
