import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createFileLogger, createMemoryLogger, nullLogger } from '../../../src/core/log.js';

describe('logger', () => {
  it('writes one JSON object per line with level, message and fields', () => {
    const log = createMemoryLogger('info');
    log.debug('hidden');
    log.info('hello', { n: 1 });
    log.child({ module: 'chat' }).warn('careful', { id: 'x' });
    const lines = log.lines.map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'hello', n: 1 });
    expect(lines[1]).toMatchObject({ level: 'warn', msg: 'careful', module: 'chat', id: 'x' });
    expect(typeof lines[0].t).toBe('string');
  });

  it('redacts credential-looking fields and registered secret values', () => {
    const log = createMemoryLogger();
    log.addSecret('sk-live-abcdef123456');
    log.info('call', {
      apiKey: 'plain-key',
      headers: { Authorization: 'Bearer xyz', accept: 'json' },
      url: 'http://x/?k=sk-live-abcdef123456',
      err: new Error('failed with sk-live-abcdef123456'),
    });
    const text = log.lines.join('\n');
    expect(text).not.toContain('plain-key');
    expect(text).not.toContain('Bearer xyz');
    expect(text).not.toContain('sk-live-abcdef123456');
    const rec = JSON.parse(log.lines[0]!);
    expect(rec.apiKey).toBe('[redacted]');
    expect(rec.headers.accept).toBe('json');
    expect(rec.url).toBe('http://x/?k=[redacted]');
    expect(rec.err.message).toBe('failed with [redacted]');
  });

  it('creates the log file 0600 and rotates it past maxBytes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-log-'));
    const file = path.join(dir, 'sub', 'rune.log');
    const log = createFileLogger({ file, maxBytes: 200 });
    for (let i = 0; i < 10; i++) log.info('line', { i });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${file}.1`)).toBe(true);
    const rest = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(rest.at(-1)!)).toMatchObject({ msg: 'line', i: 9 });
    fs.rmSync(dir, { recursive: true });
  });

  it('survives values it cannot serialise', () => {
    const log = createMemoryLogger();
    const big = { n: 1n };
    log.info('bigint', big as unknown as Record<string, unknown>);
    expect(JSON.parse(log.lines[0]!)).toMatchObject({
      msg: 'bigint',
      note: 'unserialisable fields',
    });
    expect(nullLogger.child({}).info('x')).toBeUndefined();
  });
});
