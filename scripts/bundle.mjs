// Bundles the host entries (src/nvim/main.ts, src/nvim/rplugin.ts) into dist/host/: what the
// host needs on its way to ready in one file per entry, every dynamic import() a chunk of its
// own, loaded when first used. The neovim client is bundled (with winston left out, see
// scripts/bundle/winston.mjs); the other packages stay imports from node_modules.
// Run by `npm run build`, from the package root (bare imports resolve from node_modules).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'host');
/** Packages bundled into the host: the RPC client and what it requires. */
const BUNDLED = ['neovim', '@msgpack/msgpack', 'winston'];
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

fs.rmSync(out, { recursive: true, force: true });
// One build per entry: the host's way to ready is then one file (main.js and rolldown's
// runtime) instead of a chunk shared with the rplugin entry besides; the two never load
// in one process, and chunks of equal content get equal names.
for (const entry of ['main', 'rplugin']) {
  await build({
    cwd: root,
    input: { [entry]: `src/nvim/${entry}.ts` },
    platform: 'node',
    tsconfig: path.join(root, 'tsconfig.build.json'),
    plugins: [channelIdOnly],
    onLog(level, log, handler) {
      // The one line channelIdOnly rewrites stays one line: the source map is still right.
      if (log.code === 'SOURCEMAP_BROKEN' && log.plugin === channelIdOnly.name) return;
      handler(level, log);
    },
    external: (id) => bare(id) && !BUNDLED.includes(pkgOf(id)),
    resolve: {
      // The sources import each other as './x.js' (NodeNext); the files are './x.ts'.
      extensionAlias: { '.js': ['.ts', '.js'] },
      alias: { winston: path.join(root, 'scripts', 'bundle', 'winston.mjs') },
    },
    output: {
      dir: out,
      format: 'esm',
      // Flat: src/core/version.ts finds the package root two folders above its file.
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
      sourcemap: true,
    },
  });
}
