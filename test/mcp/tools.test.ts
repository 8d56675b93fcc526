import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  acceptedEdits,
  applyTextEdits,
  applyUnifiedDiff,
  diffLines,
  editSpan,
  searchReplace,
  unifiedDiff,
} from '../../src/tools/diff.js';
import { resolveInRoots } from '../../src/tools/paths.js';
import type { Editor, LineEdit } from '../../src/tools/editor.js';
import { editorKit } from '../../src/tools/editor/kit.js';
import { registerEditTools } from '../../src/tools/editor/edit.js';
import { searchInWorker } from '../../src/tools/search.js';
import {
  ApprovalPolicy,
  ApprovalStore,
  glob,
  summarize,
  type ApprovalUi,
  type Decision,
} from '../../src/tools/approval.js';
import { AuditLog } from '../../src/tools/audit.js';
import { ToolRegistry, type ToolContext } from '../../src/tools/registry.js';
import { cleanStale, readLocks, removeLock, writeLock } from '../../src/mcp/lockfile.js';
import { createMemoryLogger } from '../../src/core/log.js';

const tmp: string[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmpdir(): string {
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-tools-')));
  tmp.push(d);
  return d;
}

function ctx(over: Partial<ToolContext> = {}): ToolContext {
  return {
    signal: new AbortController().signal,
    progress: () => undefined,
    caller: { client: 'unit 1' },
    review: (p) => Promise.resolve({ accepted: p.hunks.map((_, i) => i) }),
    ...over,
  };
}

describe('diffLines', () => {
  it('finds separate hunks and applies any subset of them', () => {
    const a = ['a', 'b', 'c', 'd', 'e', 'f'];
    const b = ['a', 'B', 'c', 'd', 'e', 'F', 'g'];
    const hunks = diffLines(a, b);
    expect(hunks).toEqual([
      { start: 1, oldLines: ['b'], newLines: ['B'] },
      { start: 5, oldLines: ['f'], newLines: ['F', 'g'] },
    ]);
    expect(acceptedEdits(hunks, [1])).toEqual([{ start: 5, end: 6, lines: ['F', 'g'] }]);
    expect(diffLines(a, a)).toEqual([]);
    expect(diffLines([], ['x'])).toEqual([{ start: 0, oldLines: [], newLines: ['x'] }]);
  });

  it('reconstructs the target from all hunks', () => {
    const a = Array.from({ length: 200 }, (_, i) => `line ${i}`);
    const b = a.filter((_, i) => i % 7 !== 0).map((l, i) => (i % 11 === 0 ? l.toUpperCase() : l));
    const hunks = diffLines(a, b);
    const out = a.slice();
    for (const e of acceptedEdits(
      hunks,
      hunks.map((_, i) => i),
    ).reverse()) {
      out.splice(e.start, e.end - e.start, ...e.lines);
    }
    expect(out).toEqual(b);
  });
});

describe('unifiedDiff', () => {
  it('prints diff -u hunks that applyUnifiedDiff turns back into the target', () => {
    const a = Array.from({ length: 200 }, (_, i) => `line ${i}`);
    const b = a.filter((_, i) => i % 7 !== 0).map((l, i) => (i % 11 === 0 ? l.toUpperCase() : l));
    expect(applyUnifiedDiff(a, unifiedDiff(a, b))).toEqual(b);
    expect(applyUnifiedDiff([], unifiedDiff([], ['new']))).toEqual(['new']);
    expect(applyUnifiedDiff(['x', 'y'], unifiedDiff(['x', 'y'], []))).toEqual([]);
    expect(unifiedDiff(a, a)).toBe('');
    expect(
      unifiedDiff(['a', 'b', 'c', 'd', 'e'], ['a', 'b', 'C', 'd', 'e'], { from: 'x', to: 'y' }, 1),
    ).toBe('--- x\n+++ y\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n');
  });
});

describe('text edits', () => {
  it('applies non-overlapping range edits and refuses overlapping ones', () => {
    const lines = ['héllo world', 'second'];
    expect(
      applyTextEdits(lines, [
        {
          range: { start: { line: 0, character: 6 }, end: { line: 0, character: 11 } },
          newText: 'there',
        },
        {
          range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } },
          newText: '>> ',
        },
      ]),
    ).toEqual(['héllo there', '>> second']);
    expect(() =>
      applyTextEdits(lines, [
        {
          range: { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } },
          newText: 'x',
        },
        {
          range: { start: { line: 0, character: 3 }, end: { line: 0, character: 7 } },
          newText: 'y',
        },
      ]),
    ).toThrow(/overlap/);
  });

  it('edits only the lines the ranges touch, with the hunks and text of an edit of the whole buffer', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i} é✓`);
    const at = (l: number, c: number, l2: number, c2: number, newText: string) => ({
      range: { start: { line: l, character: c }, end: { line: l2, character: c2 } },
      newText,
    });
    const cases = [
      [at(20, 2, 20, 4, 'X')],
      [at(3, 0, 3, 0, 'top\n'), at(40, 5, 41, 2, 'a\nb\nc')],
      [at(10, 4, 12, 6, '')],
      [at(0, 0, 0, 0, '>> ')],
      [at(49, 3, 49, 99, '!')],
      // Past the last line: the end of the last line, as a whole-buffer edit clamps it.
      [at(80, 0, 99, 5, '\nappended'), at(30, 1, 30, 2, 'Z')],
    ];
    for (const edits of cases) {
      const whole = applyTextEdits(lines, edits);
      const span = editSpan(edits, lines.length);
      const part = lines.slice(span.from, span.to);
      const after = applyTextEdits(part, span.edits);
      expect([...lines.slice(0, span.from), ...after, ...lines.slice(span.to)]).toEqual(whole);
      const hunks = diffLines(part, after).map((h) => ({ ...h, start: h.start + span.from }));
      expect(hunks).toEqual(diffLines(lines, whole));
    }
    expect(editSpan([at(7, 0, 9, 1, 'x')], 50)).toMatchObject({ from: 7, to: 10 });
    const neg = editSpan([at(-1, 0, 2, 0, 'x')], 50);
    expect(() => applyTextEdits(lines.slice(neg.from, neg.to), neg.edits)).toThrow(/negative/);
  });

  it('edit_buffer with ranges reads from the editor only the lines they touch', async () => {
    const lines = Array.from({ length: 10000 }, (_, i) => `line ${i}`);
    const reads: [number, number][] = [];
    const applied: LineEdit[][] = [];
    const editor = {
      roots: () => Promise.resolve(['/w']),
      buffer: (id: number) =>
        Promise.resolve({
          id,
          path: '',
          name: 'big',
          filetype: '',
          modified: false,
          loaded: true,
          lineCount: lines.length,
          changedtick: 7,
        }),
      getLines: (_b: number, start: number, end: number) => {
        reads.push([start, end]);
        return Promise.resolve(lines.slice(start, end));
      },
      setLines: (_b: number, edits: LineEdit[]) => {
        applied.push(edits);
        return Promise.resolve();
      },
    } as unknown as Editor;
    const registry = new ToolRegistry();
    registerEditTools(registry, editorKit(editor), false);
    const at = (l: number, c: number, l2: number, c2: number, newText: string) => ({
      range: { start: { line: l, character: c }, end: { line: l2, character: c2 } },
      newText,
    });
    const r = await registry.call(
      'edit_buffer',
      { buffer: 1, edits: [at(5000, 0, 5000, 4, 'LINE'), at(5002, 0, 5003, 0, '')] },
      ctx(),
    );
    expect(r.isError).toBeFalsy();
    expect(reads).toEqual([[5000, 5004]]);
    expect(applied).toEqual([
      [
        { start: 5000, end: 5001, lines: ['LINE 5000'] },
        { start: 5002, end: 5003, lines: [] },
      ],
    ]);
  });

  it('replaces the first or every occurrence, and says when the text is absent', () => {
    expect(searchReplace(['a b a'], 'a', 'c', false)).toEqual(['c b a']);
    expect(searchReplace(['a b a'], 'a', '$&$&', true)).toEqual(['$&$& b $&$&']);
    expect(() => searchReplace(['x'], 'zzz', 'y', false)).toThrow(/not found/);
  });

  it('applies a unified diff and refuses one that does not match', () => {
    const lines = ['one', 'two', 'three'];
    const diff = '--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n';
    expect(applyUnifiedDiff(lines, diff)).toEqual(['one', '2', 'three']);
    expect(() => applyUnifiedDiff(['x'], diff)).toThrow(/does not match/);
    expect(() => applyUnifiedDiff(lines, 'not a diff')).toThrow(/no hunks/);
  });

  it('removes and adds lines that begin with -- or ++ (a Lua or SQL comment)', () => {
    const lines = ['-- old note', 'local x = 1', '-- keep', 'return x'];
    const diff =
      '--- a/f.lua\n+++ b/f.lua\n@@ -1,4 +1,4 @@\n--- old note\n+++ new note\n local x = 1\n -- keep\n return x\n';
    expect(applyUnifiedDiff(lines, diff)).toEqual([
      '++ new note',
      'local x = 1',
      '-- keep',
      'return x',
    ]);
  });
});

describe('searchInWorker', () => {
  const evil = {
    pattern: '^(a+)+$',
    flags: '',
    max: 10,
    buffers: [{ path: 'x', buffer: 1, lines: [`${'a'.repeat(40)}!`] }],
  };

  it('stops a backtracking regex at the deadline with a timeout error', async () => {
    await expect(searchInWorker(evil, new AbortController().signal, 300)).rejects.toThrow(
      /stopped after 0\.3 s: the regular expression takes too long/,
    );
  });

  it('stops it when the call is cancelled', async () => {
    const ac = new AbortController();
    const p = searchInWorker(evil, ac.signal, 60_000);
    ac.abort();
    await expect(p).rejects.toThrow(/cancelled/);
  });

  it('finds matches in buffers and folders, without following links out', async () => {
    const root = tmpdir();
    const outside = tmpdir();
    fs.writeFileSync(path.join(root, 'a.txt'), 'one\nneedle here\n');
    fs.writeFileSync(path.join(outside, 'b.txt'), 'needle outside\n');
    fs.symlinkSync(outside, path.join(root, 'out'));
    const found = await searchInWorker(
      { pattern: 'needle', flags: 'i', max: 10, roots: [root] },
      new AbortController().signal,
    );
    expect(found).toEqual([{ path: path.join(root, 'a.txt'), line: 2, text: 'needle here' }]);
  });
});

describe('resolveInRoots', () => {
  it('keeps paths inside the workspace and refuses traversal, control characters and symlink escapes', () => {
    const root = tmpdir();
    const outside = tmpdir();
    fs.mkdirSync(path.join(root, 'src'));
    fs.symlinkSync(outside, path.join(root, 'out'));
    fs.symlinkSync(path.join(root, 'src'), path.join(root, 'in'));
    expect(resolveInRoots('src/a.ts', [root])).toBe(path.join(root, 'src/a.ts'));
    expect(resolveInRoots(path.join(root, 'new/dir/file'), [root])).toBe(
      path.join(root, 'new/dir/file'),
    );
    // A link inside the workspace resolves to its target: that is what is read or written.
    expect(resolveInRoots('in/x', [root])).toBe(path.join(root, 'src/x'));
    // Dangling links count where they point, not where they sit.
    fs.symlinkSync(path.join(outside, 'new.txt'), path.join(root, 'dl'));
    fs.symlinkSync(path.join(outside, 'newdir'), path.join(root, 'dd'));
    fs.symlinkSync('src/later.txt', path.join(root, 'rel'));
    expect(() => resolveInRoots('dl', [root])).toThrow(/symbolic link.*outside the workspace/);
    expect(() => resolveInRoots('dd/x.txt', [root])).toThrow(/symbolic link/);
    expect(resolveInRoots('rel', [root])).toBe(path.join(root, 'src/later.txt'));
    fs.symlinkSync('loop', path.join(root, 'loop'));
    expect(() => resolveInRoots('loop', [root])).toThrow(/Too many symbolic links/);
    expect(() => resolveInRoots('../x', [root])).toThrow(/\.\./);
    expect(() => resolveInRoots('src/../../x', [root])).toThrow(/\.\./);
    expect(() => resolveInRoots('/etc/passwd', [root])).toThrow(/outside the workspace/);
    expect(() => resolveInRoots('out/secret', [root])).toThrow(/symbolic link/);
    expect(() => resolveInRoots('a\nb', [root])).toThrow(/control/);
    expect(() => resolveInRoots('', [root])).toThrow(/empty/);
    expect(() => resolveInRoots('x', [])).toThrow(/no workspace/);
  });
});

describe('ApprovalPolicy', () => {
  function setup(
    answers: Decision[],
    rules: ConstructorParameters<typeof ApprovalPolicy>[0]['rules'] = [],
  ) {
    const dir = tmpdir();
    const store = new ApprovalStore(path.join(dir, 'approvals.json'));
    const asked: string[] = [];
    const ui: ApprovalUi = {
      ask: (req) => {
        asked.push(req.tool);
        return Promise.resolve(answers.shift() ?? 'deny');
      },
      review: (req, proposal) => {
        asked.push(`review:${req.tool}`);
        const d = answers.shift() ?? 'deny';
        return Promise.resolve({
          decision: d,
          accepted: d === 'deny' ? [] : [proposal.hunks.length - 1],
        });
      },
    };
    const policy = new ApprovalPolicy({
      rules,
      store,
      project: () => '/proj',
      ui,
      logger: createMemoryLogger(),
    });
    const registry = new ToolRegistry();
    let ran = 0;
    registry.register({
      name: 'read',
      description: 'r',
      inputSchema: {},
      annotations: { readOnlyHint: true },
      handler: () => 'r',
    });
    registry.register({
      name: 'write',
      description: 'w',
      inputSchema: { path: z.string() },
      handler: () => {
        ran++;
        return 'w';
      },
    });
    registry.register({
      name: 'edit',
      description: 'e',
      inputSchema: {},
      approval: 'review',
      handler: async (_a, c) => {
        const r = await c.review({
          target: 'f',
          hunks: [
            { start: 0, oldLines: ['a'], newLines: ['A'] },
            { start: 2, oldLines: ['c'], newLines: ['C'] },
          ],
        });
        return JSON.stringify(r.accepted);
      },
    });
    const call = (name: string, args: Record<string, unknown> = {}) =>
      registry.call(name, args, ctx(), policy.gate);
    return { call, asked, store, dir, ran: () => ran };
  }

  it('runs read-only tools without asking', async () => {
    const s = setup([]);
    expect((await s.call('read')).isError).toBeFalsy();
    expect(s.asked).toEqual([]);
  });

  it('asks for writes: once runs, deny refuses without running, always is remembered on disk', async () => {
    const s = setup(['once', 'deny', 'always']);
    expect((await s.call('write', { path: 'a' })).isError).toBeFalsy();
    const denied = await s.call('write', { path: 'a' });
    expect(denied).toMatchObject({ isError: true, _meta: { 'rune/code': 'denied' } });
    expect(s.ran()).toBe(1);
    await s.call('write', { path: 'a' });
    await s.call('write', { path: 'b' });
    expect(s.asked).toEqual(['write', 'write', 'write']);
    expect(JSON.parse(fs.readFileSync(path.join(s.dir, 'approvals.json'), 'utf8'))).toEqual({
      '/proj': ['write'],
    });
    expect(s.store.allowed('/other', 'write')).toBe(false);
  });

  it('follows rules on arguments, first match wins', async () => {
    const s = setup(
      [],
      [
        { tool: 'write', args: { path: 'secret/*' }, action: 'deny' },
        { tool: 'wr*', action: 'allow' },
      ],
    );
    expect((await s.call('write', { path: 'secret/key' })).isError).toBe(true);
    expect((await s.call('write', { path: 'src/x' })).isError).toBeFalsy();
    expect(s.asked).toEqual([]);
  });

  it('reviews edits hunk by hunk', async () => {
    const s = setup(['once', 'deny']);
    expect((await s.call('edit')).content).toEqual([{ type: 'text', text: '[1]' }]);
    const denied = await s.call('edit');
    expect(denied.isError).toBe(true);
    expect(s.asked).toEqual(['review:edit', 'review:edit']);
  });

  it('masks secrets and shortens long arguments in summaries', () => {
    expect(summarize({ api_key: 'sk-123', text: 'x'.repeat(300) }, 20)).toEqual([
      'api_key: [redacted]',
      `text: ${'x'.repeat(19)}… (300 chars)`,
    ]);
    expect(glob('fs.*').test('fs.read')).toBe(true);
    expect(glob('fs.*').test('fsxread')).toBe(false);
  });
});

describe('AuditLog', () => {
  it('records each call with its outcome in a 0600 file', async () => {
    const dir = tmpdir();
    const file = path.join(dir, 'audit.log');
    const audit = new AuditLog(file, createMemoryLogger());
    const registry = new ToolRegistry();
    registry.register({
      name: 'ok',
      description: '',
      inputSchema: { token: z.string() },
      handler: () => 'fine',
    });
    registry.register({
      name: 'bad',
      description: '',
      inputSchema: {},
      handler: () => {
        throw new Error('nope');
      },
    });
    const gate = audit.wrap();
    await registry.call('ok', { token: 'hunter2' }, ctx(), gate);
    await registry.call('bad', {}, ctx(), gate);
    expect(audit.recent().map((e) => [e.tool, e.result])).toEqual([
      ['ok', 'ok'],
      ['bad', 'error'],
    ]);
    await expect
      .poll(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').length)
      .toBe(3);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // A log grown past the limit is rotated when the next server starts.
    fs.appendFileSync(file, 'x'.repeat(AuditLog.MAX_BYTES));
    new AuditLog(file, createMemoryLogger());
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.statSync(`${file}.1`).size).toBeGreaterThan(AuditLog.MAX_BYTES);
  });
});

describe('AuditLog writes', () => {
  it('keeps the calls made while the file opens, in order, and writes later ones at once', async () => {
    const file = path.join(tmpdir(), 'audit.log');
    const audit = new AuditLog(file, createMemoryLogger());
    const entry = (tool: string) => ({
      t: new Date().toISOString(),
      client: 'c',
      tool,
      args: [],
      result: 'ok' as const,
      ms: 0,
    });
    audit.record(entry('one'));
    audit.record(entry('two'));
    const tools = () =>
      fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { tool: string }).tool);
    await expect.poll(() => fs.existsSync(file) && tools()).toEqual(['one', 'two']);
    // Once open, a line is in the file before record() returns (before the answer is sent).
    audit.record(entry('three'));
    expect(tools()).toEqual(['one', 'two', 'three']);
  });
});

describe('ToolRegistry', () => {
  it('refuses invalid and duplicate names', () => {
    const r = new ToolRegistry();
    expect(() =>
      r.register({ name: 'bad name', description: '', inputSchema: {}, handler: () => '' }),
    ).toThrow(/invalid/);
    const d = r.register({ name: 'x', description: '', inputSchema: {}, handler: () => '' });
    expect(() =>
      r.register({ name: 'x', description: '', inputSchema: {}, handler: () => '' }),
    ).toThrow(/already/);
    d.dispose();
    expect(r.get('x')).toBeUndefined();
  });
});

describe('lock files', () => {
  it('creates 0600 files in a 0700 directory, replaces stale ones, refuses live ones', () => {
    const dir = path.join(tmpdir(), 'locks');
    const file = writeLock(dir, '1.lock', {
      pid: process.pid,
      port: 1,
      token: 't',
      createdAt: 'x',
    });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    // A lock of our own pid (left by a previous server in this process) is replaced.
    writeLock(dir, '1.lock', { pid: process.pid, port: 1, token: 'u', createdAt: 'y' });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).token).toBe('u');
    fs.writeFileSync(
      path.join(dir, '2.lock'),
      JSON.stringify({ pid: 2 ** 22 + 12345, port: 2, token: 't' }),
    );
    fs.writeFileSync(path.join(dir, '3.lock'), JSON.stringify({ pid: 1, port: 3, token: 't' }));
    expect(() => writeLock(dir, '3.lock', { pid: process.pid })).toThrow(/running process 1/);
    expect(
      readLocks(dir)
        .map((l) => l.port)
        .sort(),
    ).toEqual([1, 3]);
    // The socket of a server that crashed goes with its lock; others stay (a server
    // that is starting listens on its socket before it writes its lock).
    fs.writeFileSync(path.join(dir, '2.sock'), '');
    fs.writeFileSync(path.join(dir, '3.sock'), '');
    fs.writeFileSync(path.join(dir, '4.sock'), '');
    expect(cleanStale(dir)).toBe(1);
    expect(fs.readdirSync(dir).sort()).toEqual(['1.lock', '3.lock', '3.sock', '4.sock']);
    fs.rmSync(path.join(dir, '3.sock'));
    fs.rmSync(path.join(dir, '4.sock'));
    removeLock(path.join(dir, '3.lock'));
    removeLock(path.join(dir, '1.lock'));
    expect(fs.readdirSync(dir)).toEqual(['3.lock']);
  });
});
