/**
 * A stdio MCP client that behaves exactly like zeke's (GhostKellz/zeke src/mcp/client.zig,
 * `StdioTransport` + `McpClient.callTool`), to prove `ZEKE_MCP_COMMAND` setups:
 *
 * - The command is argv[0] with no arguments (`StdioTransport.init(command, &.{})`; zeke's
 *   config sets only `.command` from ZEKE_MCP_COMMAND, src/config/mod.zig), spawned without
 *   a shell, with zeke's own environment and folder.
 * - No `initialize`: the first and every message is `tools/call`, with integer ids counting
 *   from 1 (`next_request_id`), written as one JSON line.
 * - Each call reads exactly ONE line back, byte by byte up to `\n`, whatever it is: a
 *   notification written first is taken as the reply (and fails to parse). The id is not
 *   compared with the request's.
 * - The line is parsed as `{jsonrpc: string, id: u64, result?, error?: {code, message}}`
 *   (unknown fields ignored, missing `jsonrpc`/`id` is an error). An `error` is a failure
 *   (`is_error`, content = its message); otherwise the whole `result`, stringified, is the
 *   content — a `result.isError` counts as success; neither is `error.MissingResult`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface ZekeToolResult {
  content: string;
  isError: boolean;
}

export class ZekeMcpClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private ended = false;
  stderr = '';

  /** Spawns `command` as zeke does; rejects when it cannot be started (no such program). */
  static async start(
    command: string,
    opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): Promise<ZekeMcpClient> {
    const c = new ZekeMcpClient(command, opts);
    await new Promise<void>((resolve, reject) => {
      c.child.once('spawn', () => resolve());
      c.child.once('error', reject);
    });
    return c;
  }

  private constructor(command: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string }) {
    this.child = spawn(command, [], { env: opts.env, cwd: opts.cwd, stdio: 'pipe' });
    this.child.stdout.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.child.stdout.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  private wake() {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  /** StdioTransport.receive: the bytes up to the next newline (error.EndOfStream at EOF). */
  private async receive(): Promise<string> {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0) {
        const line = this.buf.subarray(0, nl).toString('utf8');
        this.buf = this.buf.subarray(nl + 1);
        return line;
      }
      if (this.ended) throw new Error(`EndOfStream (stderr: ${this.stderr.trim()})`);
      await new Promise<void>((r) => (this.waiting = r));
    }
  }

  /** McpClient.callTool. */
  async callTool(name: string, args: Record<string, unknown>): Promise<ZekeToolResult> {
    const id = this.nextId++;
    this.child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } })}\n`,
    );
    const line = await this.receive();
    const r = JSON.parse(line) as Record<string, unknown>;
    if (typeof r.jsonrpc !== 'string') throw new Error(`MissingField jsonrpc in: ${line}`);
    if (!Number.isInteger(r.id) || (r.id as number) < 0) {
      throw new Error(`id is not a u64 in: ${line.slice(0, 200)}`);
    }
    const err = r.error as { code?: unknown; message?: unknown } | null | undefined;
    if (err) {
      if (!Number.isInteger(err.code) || typeof err.message !== 'string') {
        throw new Error(`malformed error in: ${line}`);
      }
      return { content: err.message, isError: true };
    }
    if (r.result !== undefined && r.result !== null) {
      return { content: JSON.stringify(r.result), isError: false };
    }
    throw new Error('MissingResult');
  }

  readFile(path: string) {
    return this.callTool('fs.read', { path });
  }
  writeFile(path: string, content: string) {
    return this.callTool('fs.write', { path, content });
  }
  listDirectory(path: string) {
    return this.callTool('fs.list', { path });
  }
  applyDiff(path: string, diff: string) {
    return this.callTool('diff.apply', { path, diff });
  }
  generateDiff(oldContent: string, newContent: string) {
    return this.callTool('diff.generate', { old: oldContent, new: newContent });
  }
  /** client.zig `checkHealth`: ping, healthy unless is_error. */
  async checkHealth(): Promise<boolean> {
    try {
      return !(await this.callTool('ping', {})).isError;
    } catch {
      return false;
    }
  }

  /** StdioTransport.deinit: kills the server. */
  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill();
    });
  }
}
