/**
 * Hands the msgpack decoder whole messages.
 *
 * The neovim client decodes Neovim's stream with @msgpack/msgpack's
 * `decodeMultiStream`, which joins every chunk it gets onto the bytes it
 * could not decode yet (a copy of all of them) and tries again from the
 * start. Neovim's answers arrive in pipe-sized chunks (64 KiB), so a
 * 600 KB answer (10,000 lines) is copied about ten times over, and each
 * try ends in a thrown RangeError. This stream walks the message headers
 * only (the msgpack spec's formats: lengths and item counts, never the
 * payload) and passes on each complete message in one piece: one join per
 * message that spans chunks, none for the rest.
 *
 * Bytes it does not understand (0xc1, never used by msgpack) end the
 * framing: from there on chunks pass as they come, and the decoder reports
 * the error as it would have.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** The last header `head()` read: its size, then the payload to skip and the items that follow. */
const H = { size: 0, payload: 0, items: 0 };

// How each type byte is read, from the msgpack spec's table of formats.
const SCALAR = 0; // PAY[t] payload bytes follow (numbers, fixstr, fixext, nil, booleans)
const FIXARRAY = 1;
const FIXMAP = 2;
const BYLEN = 3; // a LEN[t]-byte length (after EXTRA[t] more header bytes) of payload
const ITEMS = 4; // a LEN[t]-byte count of items
const PAIRS = 5; // a LEN[t]-byte count of key/value pairs
const UNUSED = 6; // 0xc1
const KIND = new Uint8Array(256);
const PAY = new Uint8Array(256);
const LEN = new Uint8Array(256);
const EXTRA = new Uint8Array(256);
for (let t = 0; t < 256; t++) {
  if (t >= 0x80 && t <= 0x8f) KIND[t] = FIXMAP;
  else if (t >= 0x90 && t <= 0x9f) KIND[t] = FIXARRAY;
  else if (t >= 0xa0 && t <= 0xbf) PAY[t] = t & 0x1f;
}
const fixed: [number, number][] = [
  [0xca, 4],
  [0xcb, 8],
  [0xcc, 1],
  [0xcd, 2],
  [0xce, 4],
  [0xcf, 8],
  [0xd0, 1],
  [0xd1, 2],
  [0xd2, 4],
  [0xd3, 8],
  [0xd4, 2],
  [0xd5, 3],
  [0xd6, 5],
  [0xd7, 9],
  [0xd8, 17],
];
for (const [t, n] of fixed) PAY[t] = n;
const sized: [number, number, number, number][] = [
  [0xc4, BYLEN, 1, 0],
  [0xc5, BYLEN, 2, 0],
  [0xc6, BYLEN, 4, 0],
  [0xc7, BYLEN, 1, 1],
  [0xc8, BYLEN, 2, 1],
  [0xc9, BYLEN, 4, 1],
  [0xd9, BYLEN, 1, 0],
  [0xda, BYLEN, 2, 0],
  [0xdb, BYLEN, 4, 0],
  [0xdc, ITEMS, 2, 0],
  [0xdd, ITEMS, 4, 0],
  [0xde, PAIRS, 2, 0],
  [0xdf, PAIRS, 4, 0],
];
for (const [t, kind, len, extra] of sized) {
  KIND[t] = kind;
  LEN[t] = len;
  EXTRA[t] = extra;
}
KIND[0xc1] = UNUSED;

const OK = 1;
const SHORT = 0;
const BAD = -1;

/** Reads the header at `b[i]` into H: OK, SHORT when `b` ends before it does, BAD: not msgpack. */
function head(b: Buffer, i: number): number {
  const t = b[i]!;
  const kind = KIND[t]!;
  H.size = 1;
  H.payload = 0;
  H.items = 0;
  switch (kind) {
    case SCALAR:
      H.payload = PAY[t]!;
      return OK;
    case FIXARRAY:
      H.items = t & 0x0f;
      return OK;
    case FIXMAP:
      H.items = 2 * (t & 0x0f);
      return OK;
    case UNUSED:
      return BAD;
  }
  const len = LEN[t]!;
  H.size = 1 + len + EXTRA[t]!;
  if (b.length - i < H.size) return SHORT;
  const n = len === 1 ? b[i + 1]! : len === 2 ? b.readUInt16BE(i + 1) : b.readUInt32BE(i + 1);
  if (kind === BYLEN) H.payload = n;
  else H.items = kind === PAIRS ? 2 * n : n;
  return OK;
}

export class MsgpackFrames extends Transform {
  constructor() {
    // Pipe-sized chunks pass without pausing the input (a 16 KiB mark would stop and
    // restart reading Neovim's pipe for every chunk of a large answer).
    super({ writableHighWaterMark: 1 << 20, readableHighWaterMark: 1 << 20 });
  }

  /** Bytes of the message under way, from earlier chunks. */
  private parts: Buffer[] = [];
  /** Header bytes cut by the end of the last chunk (at most 5). */
  private cut: Buffer | undefined;
  /** Payload bytes left to skip before the current value is complete. */
  private skip = 0;
  /** Items left in each array or map being walked, innermost last. */
  private readonly open: number[] = [];
  private lost = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.lost) return done(null, chunk);
    // Where the last message that ended in this chunk ends (-1: none did).
    let end = -1;
    let pos = 0;
    let b = chunk;
    let shift = 0;
    if (this.cut) {
      // The cut header, completed with the first bytes of this chunk.
      b = Buffer.concat([this.cut, chunk.subarray(0, 8)]);
      shift = this.cut.length;
      this.cut = undefined;
      const r = head(b, 0);
      if (r === BAD) return this.give(chunk, done);
      if (r === SHORT) {
        this.cut = b;
        this.parts.push(chunk);
        return done();
      }
      pos = H.size - shift;
      b = chunk;
      if (this.begin()) end = pos;
    }
    while (pos < b.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, b.length - pos);
        this.skip -= n;
        pos += n;
        if (this.skip === 0 && this.finish()) end = pos;
        continue;
      }
      const r = head(b, pos);
      if (r === BAD) return this.give(chunk, done);
      if (r === SHORT) {
        this.cut = b.subarray(pos);
        break;
      }
      pos += H.size;
      if (this.begin()) end = pos;
    }
    if (end < 0) {
      this.parts.push(chunk);
      return done();
    }
    const whole = this.parts.length
      ? Buffer.concat([...this.parts, chunk.subarray(0, end)])
      : end === chunk.length
        ? chunk
        : chunk.subarray(0, end);
    this.parts = end < chunk.length ? [chunk.subarray(end)] : [];
    done(null, whole);
  }

  override _flush(done: TransformCallback): void {
    done(null, this.parts.length ? Buffer.concat(this.parts) : undefined);
  }

  /** Takes the header in H; true when it completed a whole message. */
  private begin(): boolean {
    if (H.items > 0) {
      this.open.push(H.items);
      return false;
    }
    this.skip = H.payload;
    return H.payload === 0 && this.finish();
  }

  /** One value is complete; true when that completed a whole message. */
  private finish(): boolean {
    while (this.open.length) {
      const last = this.open.length - 1;
      if (--this.open[last]! > 0) return false;
      this.open.pop();
    }
    return true;
  }

  /** Not msgpack as this knows it: pass everything on and let the decoder say what is wrong. */
  private give(chunk: Buffer, done: TransformCallback): void {
    this.lost = true;
    const rest = Buffer.concat([...this.parts, chunk]);
    this.parts = [];
    done(null, rest);
  }
}
