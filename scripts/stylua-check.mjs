// Checks (or with --write, fixes) the formatting of every Lua file with StyLua,
// which ships on npm as a WASM library (`formatCode`) without a CLI.
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  formatCode,
  Config,
  IndentType,
  QuoteStyle,
  CallParenType,
  OutputVerification,
} from '@johnnymorganz/stylua';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const write = process.argv.includes('--write');

// Third-party Lua vendored unchanged for tests keeps its own formatting.
const VENDORED = new Set([join(root, 'test', 'fixtures', 'zeke.nvim')]);

function* luaFiles(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (VENDORED.has(p)) continue;
    if (statSync(p).isDirectory()) yield* luaFiles(p);
    else if (name.endsWith('.lua')) yield p;
  }
}

const toml = readFileSync(join(root, '.stylua.toml'), 'utf8');
const get = (key) => new RegExp(`^${key}\\s*=\\s*"?([^"\\n]+)"?`, 'm').exec(toml)?.[1];
// formatCode takes ownership of the config (wasm-bindgen moves it), so each call gets a new one.
function config() {
  const c = Config.new();
  c.column_width = Number(get('column_width') ?? 100);
  c.indent_width = Number(get('indent_width') ?? 2);
  c.indent_type = IndentType.Spaces;
  c.quote_style = QuoteStyle.AutoPreferSingle;
  c.call_parentheses = CallParenType.Always;
  return c;
}

let bad = 0;
for (const dir of ['lua', 'plugin', 'test', 'scripts', 'bench']) {
  let files;
  try {
    files = [...luaFiles(join(root, dir))];
  } catch {
    continue;
  }
  for (const file of files) {
    const src = readFileSync(file, 'utf8');
    const out = formatCode(src, config(), undefined, OutputVerification.None);
    if (out !== src) {
      if (write) writeFileSync(file, out);
      else {
        console.error(`stylua: ${relative(root, file)} is not formatted (npm run format)`);
        bad++;
      }
    }
  }
}
if (bad) process.exit(1);
