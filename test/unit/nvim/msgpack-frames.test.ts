/**
 * MsgpackFrames: whatever the chunking, the bytes pass unchanged and every chunk it
 * hands on ends at a message boundary (checked with @msgpack/msgpack, the decoder the
 * neovim client uses).
 */
import { describe, expect, it } from 'vitest';
import { decodeMulti, encode, ExtensionCodec } from '@msgpack/msgpack';
import { MsgpackFrames } from '../../../src/nvim/msgpack-frames.js';

/** A seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const ext = new ExtensionCodec();
// Neovim's handles (buffers, windows, tabpages) are ext types 0..2.
for (const type of [0, 1, 2]) {
  ext.register({
    type,
    encode: (v) => (v instanceof Uint8Array && v.length === 3 + type ? v : null),
    decode: (d) => d,
  });
}

function value(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 9 : 12));
  const n = (max: number) => Math.floor(r() * max);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return n(128) - (r() < 0.5 ? 0 : 160);
    case 3:
      return [0xff, 0xffff, 0xffffffff, 2 ** 40, -200, -40000, -3e9][n(7)];
    case 4:
      return r() * 1e6;
    case 5:
      return 'x'.repeat(n(40));
    case 6:
      return 'é'.repeat([200, 70000, 0, 31][n(4)]!);
    case 7:
      return new Uint8Array([1, 0, 300, 70000][n(4)]!).fill(7);
    case 8:
      return new Uint8Array(3 + n(3)).fill(1);
    case 9: {
      const length = [0, 3, 15, 16, 70000][n(5)]!;
      // Long arrays hold numbers (a 10,000-line read is an array of strings); short ones nest.
      return Array.from({ length }, () =>
        length > 16 || depth > 2 ? n(1000) : value(r, depth + 1),
      );
    }
    case 10:
      return Object.fromEntries(
        Array.from({ length: [0, 2, 15, 17][n(4)]! }, (_, i) => [`k${i}`, value(r, depth + 1)]),
      );
    default:
      return [1, n(1000), null, value(r, depth + 1)];
  }
}

async function run(input: Buffer, cuts: number[]): Promise<Buffer[]> {
  const f = new MsgpackFrames();
  const out: Buffer[] = [];
  f.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((r) => f.once('end', r));
  let at = 0;
  for (const c of [...cuts, input.length]) {
    if (c > at) f.write(input.subarray(at, c));
    at = Math.max(at, c);
  }
  f.end();
  await ended;
  return out;
}

describe('MsgpackFrames', () => {
  it('passes every byte and cuts only between messages, however the input is chunked', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const messages = Array.from({ length: 1 + Math.floor(r() * 8) }, () =>
        Buffer.from(encode(value(r, 0), { extensionCodec: ext })),
      );
      const input = Buffer.concat(messages);
      // Pipe-sized chunks, single bytes, and random cuts.
      const plans = [
        Array.from({ length: Math.floor(input.length / 65536) }, (_, i) => (i + 1) * 65536),
        Array.from({ length: Math.min(input.length, 300) }, (_, i) => i + 1),
        Array.from({ length: 20 }, () => Math.floor(r() * input.length)).sort((a, b) => a - b),
      ];
      for (const cuts of plans) {
        const out = await run(input, cuts);
        expect(Buffer.concat(out).equals(input), `seed ${seed}`).toBe(true);
        let count = 0;
        for (const chunk of out) {
          // Throws on a chunk that ends inside a message.
          count += [...decodeMulti(chunk, { extensionCodec: ext })].length;
        }
        expect(count, `seed ${seed}`).toBe(messages.length);
      }
    }
  });

  it('hands a message that arrives in one chunk on as that chunk, without a copy', async () => {
    const msg = Buffer.from(encode([1, 7, null, 'x'.repeat(100)]));
    const out = await run(msg, []);
    expect(out).toHaveLength(1);
    expect(out[0]!.buffer).toBe(msg.buffer);
    expect([out[0]!.byteOffset, out[0]!.length]).toEqual([msg.byteOffset, msg.length]);
  });

  it('passes bytes that are not msgpack on unchanged, for the decoder to report', async () => {
    const input = Buffer.concat([Buffer.from(encode([1, 2])), Buffer.from([0x92, 0xc1, 0x01])]);
    const out = await run(input, [1, 4]);
    expect(Buffer.concat(out).equals(input)).toBe(true);
  });
});
