/**
 * The official MCP conformance suite's client scenarios against Rune's MCP
 * hub, through the entry test/mcp/conformance-client.ts (which loads the hub
 * from dist/: build it first with `npx tsc -p tsconfig.build.json`). The
 * suite needs Node 22, run through `npx -p node@22`. Scenarios expected to
 * fail are listed with their reasons in test/fixtures/conformance-client-baseline.yml.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BASELINE = path.join(ROOT, 'test', 'fixtures', 'conformance-client-baseline.yml');
const ENTRY = 'test/mcp/conformance-client.ts';

const SCENARIOS = [
  'initialize',
  'tools_call',
  'elicitation-sep1034-client-defaults',
  'sse-retry',
  // OAuth: the hub signs in with McpOAuthProvider (see conformance-client.ts).
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/resource-mismatch',
  'auth/offline-access-scope',
  'auth/offline-access-not-supported',
  'auth/client-credentials-jwt',
  'auth/client-credentials-basic',
  'auth/cross-app-access-complete-flow',
];

function runScenario(
  scenario: string,
  outDir: string,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      'npx',
      [
        '-y',
        '-p',
        'node@22',
        '--',
        'node',
        path.join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js'),
        'client',
        '--command',
        `node ${ENTRY}`,
        '--scenario',
        scenario,
        '--expected-failures',
        BASELINE,
        '-o',
        outDir,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('MCP conformance suite, client scenarios', () => {
  it(
    'the hub passes every client scenario run except the baseline',
    { timeout: 600_000 },
    async () => {
      expect(
        fs.existsSync(path.join(ROOT, 'dist', 'mcp', 'hub', 'clients.js')),
        'dist/ is missing: run `npx tsc -p tsconfig.build.json` first',
      ).toBe(true);
      const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-conformance-client-'));
      const failed: string[] = [];
      for (const scenario of SCENARIOS) {
        const { code, out } = await runScenario(scenario, outDir);
        // Every scenario reports at least one check; none may fail outside the baseline.
        expect(out, out).toMatch(/Passed: [1-9]\d*\/\d+|Baseline check passed/);
        if (code !== 0) failed.push(`${scenario}:\n${out}`);
      }
      expect(failed, failed.join('\n\n')).toEqual([]);
      fs.rmSync(outDir, { recursive: true, force: true });
    },
  );
});
