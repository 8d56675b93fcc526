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

/** Formats whose length follows the type byte: length bytes, extra bytes (ext type), kind. */
const SIZED: Record<number, [number, number, 'payload' | 'items' | 'pairs']> = {
  0xc4: [1, 0, 'payload'],
  0xc5: [2, 0, 'payload'],
  0xc6: [4, 0, 'payload'],
  0xc7: [1, 1, 'payload'],
  0xc8: [2, 1, 'payload'],
  0xc9: [4, 1, 'payload'],
  0xd9: [1, 0, 'payload'],
  0xda: [2, 0, 'payload'],
  0xdb: [4, 0, 'payload'],
  0xdc: [2, 0, 'items'],
  0xdd: [4, 0, 'items'],
  0xde: [2, 0, 'pairs'],
  0xdf: [4, 0, 'pairs'],
};

/** Payload sizes of the fixed-size formats after their type byte (numbers, fixext). */
const FIXED: Record<number, number> = {
  0xca: 4,
  0xcb: 8,
  0xcc: 1,
  0xcd: 2,
  0xce: 4,
  0xcf: 8,
  0xd0: 1,
  0xd1: 2,
  0xd2: 4,
  0xd3: 8,
  0xd4: 2,
  0xd5: 3,
  0xd6: 5,
  0xd7: 9,
  0xd8: 17,
};

const OK = 1;
const SHORT = 0;
const BAD = -1;

/** Reads the header at `b[i]` into H: OK, SHORT when `b` ends before it does, BAD: not msgpack. */
function head(b: Buffer, i: number): number {
  const t = b[i]!;
  H.size = 1;
  H.payload = 0;
  H.items = 0;
  if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return OK;
  if (t <= 0x8f) H.items = 2 * (t & 0x0f);
  else if (t <= 0x9f) H.items = t & 0x0f;
  else if (t <= 0xbf) H.payload = t & 0x1f;
  else if (FIXED[t] !== undefined) H.payload = FIXED[t];
  else {
    const s = SIZED[t];
    if (!s) return BAD;
    const [lenBytes, extra, kind] = s;
    H.size = 1 + lenBytes + extra;
    if (b.length - i < H.size) return SHORT;
    const n =
      lenBytes === 1 ? b[i + 1]! : lenBytes === 2 ? b.readUInt16BE(i + 1) : b.readUInt32BE(i + 1);
    if (kind === 'payload') H.payload = n;
    else H.items = kind === 'pairs' ? 2 * n : n;
  }
  return OK;
}

export class MsgpackFrames extends Transform {
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
