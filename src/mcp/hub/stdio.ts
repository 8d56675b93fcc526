/**
 * The hub's transport to a stdio MCP server: the child's stdin and stdout
 * carry newline-delimited JSON-RPC (framed by the SDK's own `ReadBuffer` and
 * `serializeMessage`), its stderr is handed over as a stream, and it may get
 * one more descriptor, fd 3, that Rune fills with bytes and closes.
 *
 * fd 3 is why this is not the SDK's `StdioClientTransport`, which spawns with
 * stdin, stdout and stderr only: a sandboxed server is started by bwrap with
 * `--seccomp 3`, and bwrap reads the seccomp program (no `socket(AF_UNIX)`)
 * from that descriptor before it starts the server. The other way, a shell
 * wrapper (`sh -c 'exec bwrap --seccomp 3 … 3<"$file"'`), needs the binary
 * program in a file on disk that someone could swap before bwrap opens it, and
 * a shell between Rune and the server; a pipe from the host has neither.
 *
 * Everything else follows the SDK's transport (client/stdio.js of
 * @modelcontextprotocol/sdk 1.x): `start()` resolves once the process is
 * spawned, `close()` ends stdin, then sends SIGTERM and SIGKILL 2 s apart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** What to run for a stdio server. */
export interface StdioLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Written to the child's fd 3, which is then closed (bwrap's `--seccomp 3`). */
  fd3?: Buffer;
}

/** How long the server gets after its stdin closes, and again after SIGTERM (as the SDK). */
const CLOSE_GRACE_MS = 2000;

export class HubStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The server's stderr, readable before `start()` so that no early line is lost. */
  readonly stderr = new PassThrough();
  private child: ChildProcess | undefined;
  private readonly buffer = new ReadBuffer();

  constructor(private readonly launch: StdioLaunch) {}

  /** The server's process id once started (for a sandboxed server: bwrap's). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): Promise<void> {
    if (this.child) throw new Error('HubStdioTransport already started');
    const { command, args, env, cwd, fd3 } = this.launch;
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        env,
        cwd,
        stdio: fd3 ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
        shell: false,
      });
      this.child = child;
      child.on('error', (err) => {
        reject(err);
        this.onerror?.(err);
      });
      child.on('spawn', () => resolve());
      child.on('close', () => {
        this.child = undefined;
        this.onclose?.();
      });
      child.stdin!.on('error', (err) => this.onerror?.(err));
      child.stdout!.on('data', (chunk: Buffer) => {
        try {
          this.buffer.append(chunk);
          this.drain();
        } catch (err) {
          this.onerror?.(err as Error);
          void this.close().catch(() => undefined);
        }
      });
      child.stdout!.on('error', (err) => this.onerror?.(err));
      child.stderr!.pipe(this.stderr);
      const extra = child.stdio[3] as NodeJS.WritableStream | null | undefined;
      if (fd3 && extra) {
        // A child that failed to start closes its end first: its 'error'/'close' say why.
        extra.on('error', () => undefined);
        extra.end(fd3);
      }
    });
  }

  private drain(): void {
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (err) {
        this.onerror?.(err as Error);
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin) {
        reject(new Error('Not connected'));
        return;
      }
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) {
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      const within = (ms: number) =>
        Promise.race([closed, new Promise<void>((r) => setTimeout(r, ms).unref())]);
      try {
        child.stdin?.end();
      } catch {
        // already gone
      }
      await within(CLOSE_GRACE_MS);
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        if (child.exitCode !== null || child.signalCode !== null) break;
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
        if (signal === 'SIGTERM') await within(CLOSE_GRACE_MS);
      }
    }
    this.buffer.clear();
  }
}
