import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../../../src/core/atomic-file.js';
import { DisposableStore, toDisposable } from '../../../src/core/disposable.js';

describe('atomic file writes', () => {
  it('replace the content whole, create 0600 files and leave no temporary file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-atomic-'));
    const file = path.join(dir, 'deep', 'history.json');
    await writeFileAtomic(file, '{"a":1}');
    await writeFileAtomic(file, '{"a":2}');
    writeFileAtomicSync(file, '{"a":3}');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a":3}');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['history.json']);
    fs.rmSync(dir, { recursive: true });
  });

  it('keeps the old content when the write fails', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-atomic-'));
    const file = path.join(dir, 'x.json');
    await writeFileAtomic(file, 'old');
    // A directory where the file should go makes the rename fail.
    const blocked = path.join(dir, 'blocked');
    fs.mkdirSync(path.join(blocked, 'child'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow();
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('disposables', () => {
  it('dispose in reverse order, once, even when one throws', () => {
    const order: string[] = [];
    const store = new DisposableStore();
    store.add(toDisposable(() => order.push('a')));
    store.add({
      dispose() {
        throw new Error('bad');
      },
    });
    store.add(toDisposable(() => order.push('c')));
    store.dispose();
    store.dispose();
    expect(order).toEqual(['c', 'a']);
    store.add(toDisposable(() => order.push('late')));
    expect(order).toEqual(['c', 'a', 'late']);
  });
});
