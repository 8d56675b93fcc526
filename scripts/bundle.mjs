// Bundles the host entries (src/nvim/main.ts, src/nvim/rplugin.ts) into dist/host/: what the
// host needs on its way to ready in one file per entry, every dynamic import() a chunk of its
// own, loaded when first used. The npm packages are bundled too (the neovim client with
// winston left out, see scripts/bundle/winston.mjs), but for those only ever import()ed
// (EXTERNAL below).
// CommonJS, not ES modules: Node loads a CommonJS file with less work than an ES module
// (no linking, no module graph), a few milliseconds of the host's way to ready
// (bench/startup.mjs, section 2). Each import() in the sources becomes a require() of its
// chunk when first called; import.meta.url becomes the chunk's own file URL. The folder's
// package.json tells Node the files are CommonJS (the package's own says "module").
// Run by `npm run build`, from the package root (bare imports resolve from node_modules).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'host');
/**
 * Packages left as imports from node_modules: the Copilot language server's JSON-RPC, imported
 * with import() when one starts. Every other package is bundled: what the features import at
 * start (zod, the MCP SDK's types, cockatiel, lru-cache, chokidar) then loads as a few chunks
 * instead of resolving, reading and linking some hundred files, and what is imported with
 * import() (each provider SDK, the MCP SDK's server and client sides, its ajv validator) is a
 * chunk of its own, loaded on first use: an SDK bundled loads in a fraction of the time its
 * files take (bench/startup.mjs, section 2c).
 */
const EXTERNAL = ['vscode-jsonrpc'];
const bare = (id) => !id.startsWith('.') && !path.isAbsolute(id) && !id.startsWith('node:');
const pkgOf = (id) =>
  id
    .split('/')
    .slice(0, id.startsWith('@') ? 2 : 1)
    .join('/');

/**
 * The neovim client asks Neovim for `nvim_get_api_info` when it attaches, and of the answer
 * (the whole API's metadata, a large message that costs the host's start more CPU to decode
 * than anything else between spawn and ready) keeps only the channel id
 * (node_modules/neovim/lib/api/client.js, generateApi: the metadata is unused). In the bundle
 * it asks `nvim_get_chan_info(0)` instead (the calling channel, :help nvim_get_chan_info) and
 * hands generateApi the same `[channel id, metadata]` pair, without the metadata. The build
 * fails when the client's code no longer reads as expected.
 */
const channelIdOnly = {
  name: 'rune:neovim-channel-id',
  transform(code, id) {
    if (!id.replaceAll('\\', '/').endsWith('/neovim/lib/api/client.js')) return null;
    const ask = "this.transport.request('nvim_get_api_info', [], (err, res) => {";
    if (
      !code.includes(ask) ||
      !/const \[channelId \/\* , encodedMetadata \*\/\] = results;/.test(code)
    ) {
      throw new Error(
        `${id}: the neovim client no longer asks nvim_get_api_info as scripts/bundle.mjs expects`,
      );
    }
    return code.replace(
      ask,
      "this.transport.request('nvim_get_chan_info', [0], (err, info) => { const res = info && [info.id];",
    );
  },
};

/**
 * The name of a chunk that a package's module starts: `vendor-` and the path it is imported
 * by, e.g. `vendor-modelcontextprotocol-sdk-server-mcp` for
 * `@modelcontextprotocol/sdk/server/mcp.js` (test/e2e/startup.test.ts sees when it loads).
 */
function vendorName(facade) {
  const m = facade && /[\\/]node_modules[\\/](.+)$/.exec(facade);
  if (!m) return null;
  const parts = m[1].split(/[\\/]/);
  const pkg = parts.splice(0, parts[0].startsWith('@') ? 2 : 1);
  const sub = parts
    .join('/')
    .replace(/^dist\/(esm\/)?/, '')
    .replace(/\.[cm]?js$/, '');
  return ['vendor', ...pkg, ...sub.split('/')].join('-').replaceAll('@', '');
}

fs.rmSync(out, { recursive: true, force: true });
// One build per entry: the host's way to ready is then one file (core.js, run by main.js,
// and rolldown's runtime) instead of a chunk shared with the rplugin entry besides; the two
// never load in one process, and chunks of equal content get equal names.
// src/nvim/main.ts becomes core.js, which main.js (scripts/bundle/main.cjs) runs.
for (const [name, entry] of [
  ['core', 'main'],
  ['rplugin', 'rplugin'],
]) {
  await build({
    cwd: root,
    input: { [name]: `src/nvim/${entry}.ts` },
    platform: 'node',
    tsconfig: path.join(root, 'tsconfig.build.json'),
    plugins: [channelIdOnly],
    onLog(level, log, handler) {
      // The one line channelIdOnly rewrites stays one line: the source map is still right.
      if (log.code === 'SOURCEMAP_BROKEN' && log.plugin === channelIdOnly.name) return;
      handler(level, log);
    },
    external: (id) => bare(id) && EXTERNAL.includes(pkgOf(id)),
    resolve: {
      // The sources import each other as './x.js' (NodeNext); the files are './x.ts'.
      extensionAlias: { '.js': ['.ts', '.js'] },
      alias: { winston: path.join(root, 'scripts', 'bundle', 'winston.mjs') },
    },
    output: {
      dir: out,
      format: 'cjs',
      // Flat: src/core/version.ts finds the package root two folders above its file.
      entryFileNames: '[name].js',
      chunkFileNames: (chunk) => `${vendorName(chunk.facadeModuleId) ?? '[name]'}-[hash].js`,
      sourcemap: true,
      sourcemapExcludeSources: true,
    },
  });
}
fs.writeFileSync(path.join(out, 'package.json'), '{ "type": "commonjs" }\n');
const coreHash = createHash('sha256')
  .update(fs.readFileSync(path.join(out, 'core.js')))
  .digest('hex')
  .slice(0, 16);
const entry = fs
  .readFileSync(path.join(root, 'scripts', 'bundle', 'main.cjs'), 'utf8')
  .replace('@CORE_HASH@', coreHash);
fs.writeFileSync(path.join(out, 'main.js'), entry, { mode: 0o755 });
