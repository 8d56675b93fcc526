/**
 * Long texts remembered as the pieces they were joined from, so that the JSON written
 * for them (an MCP answer) is escaped piece by piece.
 *
 * A 10,000-line read comes from Neovim in slices (lua/rune/editor.lua) and is joined with
 * `+`, which V8 keeps as a rope. `JSON.stringify` of a rope first copies it into one
 * flat string, then builds its output as a second string as long, and the socket write
 * copies that to UTF-8: each a 560 KB allocation in V8's large-object space, which gets
 * its own pages (faulted in, then unmapped by the collector). `jsonChunks` writes the
 * same JSON as a list of strings no longer than the pieces; written with `cork()`, they
 * leave in one `writev`.
 *
 * Hand-written: JSON.rawJSON (which would let the escaped pieces stand in the output)
 * needs V8 11.4; Node 20 has 11.3.
 */
import { randomBytes } from 'node:crypto';

/** Shorter texts are written the plain way: their copies are cheap. */
export const PIECES_MIN = 64 * 1024;
/**
 * How many joined texts are remembered, and for how long: an answer is written right
 * after its tool ran, and one never written (a read by a chat tool) must not keep its
 * text alive.
 */
const KEEP = 4;
const KEEP_MS = 5_000;

const kept: { text: string; parts: string[]; at: number }[] = [];
/** Marks a remembered text in the first JSON pass; random, so no text can hold it by chance. */
const MARK = `\u2063rune-pieces-${randomBytes(9).toString('base64url')}-`;

function keep(text: string, parts: string[]): string {
  if (text.length < PIECES_MIN) return text;
  const now = performance.now();
  while (kept.length && (kept.length >= KEEP || now - kept[0]!.at > KEEP_MS)) kept.shift();
  kept.push({ text, parts, at: now });
  return text;
}

/** The pieces `text` was joined from, if it is a remembered text (found by identity first). */
export function piecesOf(text: string): string[] | undefined {
  const i = indexOf(text);
  return i < 0 ? undefined : kept[i]!.parts;
}

function indexOf(text: string): number {
  for (let i = kept.length - 1; i >= 0; i--) {
    const k = kept[i]!;
    if (k.text.length === text.length && k.text === text) return i;
  }
  return -1;
}

/** `parts` joined with `sep`, remembered as its pieces when it is long. */
export function joinPieces(parts: readonly string[], sep: string): string {
  let out = parts[0] ?? '';
  const all: string[] = parts.length ? [parts[0]!] : [];
  for (let i = 1; i < parts.length; i++) {
    out = out + sep + parts[i]!;
    all.push(sep, parts[i]!);
  }
  return keep(out, all);
}

/** `a + b`, remembered as pieces when `a` is a remembered text. */
export function appendPieces(a: string, b: string): string {
  const parts = b === '' ? undefined : piecesOf(a);
  return parts ? keep(a + b, [...parts, b]) : a + b;
}

/**
 * `JSON.stringify(value)` as a list of strings whose concatenation is that JSON, each
 * remembered text escaped piece by piece. One string when `value` holds none.
 */
export function jsonChunks(value: unknown): string[] {
  if (kept.length === 0) return [JSON.stringify(value)];
  const found: string[][] = [];
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'string' || v.length < PIECES_MIN) return v;
    const i = indexOf(v);
    if (i < 0) return v;
    // Written once: the memory goes with it.
    found.push(kept.splice(i, 1)[0]!.parts);
    return MARK + String(found.length - 1);
  });
  if (found.length === 0) return [json];
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i < found.length; i++) {
    const mark = `"${MARK}${i}"`;
    const at = json.indexOf(mark, from);
    // Not where it should be (never seen): the plain JSON is still right.
    if (at < 0) return [JSON.stringify(value)];
    out.push(json.slice(from, at + 1));
    for (const p of found[i]!) out.push(JSON.stringify(p).slice(1, -1));
    out.push('"');
    from = at + mark.length;
  }
  out.push(json.slice(from));
  return out;
}
