/**
 * The Editor port: what editor tools may ask of the running editor. Tools are
 * written against this interface, never against the Neovim client, so they
 * can be tested with any implementation and reused by other front ends.
 *
 * Positions are 0-based lines and 0-based character columns (UTF-16 code
 * units are not used; `character` counts Unicode code points of the line).
 * Every method takes arguments as values: an implementation must never build
 * an Ex command or a Lua chunk out of them.
 */

/** A buffer as the editor lists it. */
export interface BufferInfo {
  id: number;
  /** Absolute path, or '' for a buffer without a file. */
  path: string;
  name: string;
  filetype: string;
  modified: boolean;
  loaded: boolean;
  lineCount: number;
  /** Bumps on every change; an edit reviewed against one tick is not applied to another. */
  changedtick: number;
}

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface CursorInfo {
  bufferId: number;
  path: string;
  position: Position;
  mode: string;
}

export interface Selection {
  bufferId: number;
  path: string;
  range: Range;
  /** `v`, `V` or a block-visual `\x16`. */
  kind: string;
  text: string;
}

export interface Diagnostic {
  bufferId: number;
  path: string;
  range: Range;
  severity: 'error' | 'warning' | 'info' | 'hint';
  message: string;
  source?: string;
  code?: string;
}

export interface SymbolInfo {
  name: string;
  kind: string;
  path: string;
  range: Range;
  container?: string;
}

export interface Location {
  path: string;
  range: Range;
}

/** One replacement of whole lines: lines `start..end` (end exclusive) become `lines`. */
export interface LineEdit {
  start: number;
  end: number;
  lines: string[];
}

export interface Editor {
  /** The workspace roots file tools are confined to (the cwd and LSP workspace folders). */
  roots(): Promise<string[]>;
  listBuffers(): Promise<BufferInfo[]>;
  /**
   * The buffer of `path`, loading it (without showing it) when `create` is
   * set; `listed: false` keeps a created buffer out of the user's buffer list
   * (a read that should leave nothing behind, see `release`).
   */
  bufferForPath(
    path: string,
    opts?: { create?: boolean; listed?: boolean },
  ): Promise<BufferInfo | undefined>;
  /**
   * Wipes a buffer made with `listed: false` once it is no longer needed,
   * unless the user has since listed, changed or shown it.
   */
  release(bufferId: number): Promise<void>;
  buffer(id: number): Promise<BufferInfo | undefined>;
  /** Lines `start..end` (end exclusive, clamped) of a buffer. */
  getLines(bufferId: number, start: number, end: number): Promise<string[]>;
  /**
   * The same lines joined with "\n", as one string: a large read crosses the
   * RPC channel as one string rather than one per line.
   */
  getText(bufferId: number, start: number, end: number): Promise<string>;
  /**
   * Replaces line ranges, applied bottom-up as one undo step. Fails without
   * changing anything when the buffer's changedtick is no longer `expectTick`.
   */
  setLines(bufferId: number, edits: LineEdit[], expectTick: number): Promise<void>;
  save(bufferId: number): Promise<void>;
  cursor(): Promise<CursorInfo>;
  /** The current or last visual selection, if any. */
  selection(): Promise<Selection | undefined>;
  /** Diagnostics of one buffer, or of every buffer when `bufferId` is undefined. */
  diagnostics(bufferId?: number): Promise<Diagnostic[]>;
  /** Shows `path` in the current window, at `line` when given. */
  open(path: string, line?: number): Promise<BufferInfo>;
  /** Document symbols from the language servers attached to the buffer. */
  symbols(bufferId: number): Promise<SymbolInfo[]>;
  /** Definitions of the symbol at `position`, from the attached language servers. */
  definition(bufferId: number, position: Position): Promise<Location[]>;
  /** Runs an Ex command (only for the opt-in raw tools). */
  command(cmd: string): Promise<string>;
  /** Runs a Lua chunk (only for the opt-in raw tools). */
  lua(code: string): Promise<unknown>;
}
