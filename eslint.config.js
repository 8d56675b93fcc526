import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The arrows of ARCHITECTURE.md, checked on every lint. A room is a folder of src/; an import
// reaches another room through a parent-relative path (`../tools/…`, `../../core/…`). Each
// room lists the rooms it must NOT import; anything not listed is allowed.
//   core/                     imports nothing of ours
//   providers/, tools/, auth/ import core/ only (exceptions below, each with its reason)
//   sandbox/                  imports core/ only (bubblewrap and seccomp, for plugins and the hub)
//   chat/                     the chat tool loop, apart from Neovim: imports tools/, providers/, core/
//   plugins/, mcp/            import sandbox/, tools/, providers/, auth/, core/
//   cli/                      imports mcp/ (the `rune mcp` proxy, Neovim discovery), chat/ and the above
//   nvim/                     the host: wires every room; nothing imports nvim/ except the host
//                             entry (src/nvim/main.ts) and the rplugin entry (rplugin/, plain JS)
const ROOMS = [
  'core',
  'auth',
  'providers',
  'tools',
  'sandbox',
  'chat',
  'plugins',
  'mcp',
  'cli',
  'nvim',
];

/** A no-restricted-imports pattern for a room (optionally all of it but `except`). */
function room(name, except) {
  const rest = except ? `(?!${except.replace(/\./g, '\\.')}$)` : '';
  return {
    regex: `^(\\.\\./)+${name}/${rest}`,
    message: `This room may not import ${name}/ (see the arrows in ARCHITECTURE.md and eslint.config.js).`,
  };
}

/** The `neovim` client belongs to nvim/ (and Neovim discovery in mcp/): others use the Editor port. */
const NEOVIM = {
  name: 'neovim',
  message: 'Only nvim/ speaks to Neovim; write against the Editor port (src/tools/editor.ts).',
};

/** One config block: `files` may import no room in `forbidden`. */
function boundary(files, forbidden, { except = {}, ignores = [], neovim = false } = {}) {
  return {
    files,
    ignores,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: neovim ? [NEOVIM] : [],
          patterns: forbidden.map((r) => room(r, except[r])),
        },
      ],
    },
  };
}

const others = (...allowed) => ROOMS.filter((r) => !allowed.includes(r));

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', '.cache/**', 'rplugin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        fetch: 'readonly',
        Response: 'readonly',
        structuredClone: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['scripts/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  boundary(['src/core/**/*.ts'], others('core'), { neovim: true }),
  boundary(['src/auth/**/*.ts'], others('auth', 'core'), { neovim: true }),
  boundary(['src/providers/**/*.ts'], others('providers', 'core'), {
    ignores: ['src/providers/copilot.ts'],
    neovim: true,
  }),
  // Exception (documented): the Copilot provider signs in through the GitHub token and the
  // Copilot language server, which live in auth/.
  boundary(['src/providers/copilot.ts'], others('providers', 'core', 'auth'), { neovim: true }),
  // Exception: the AI tools run a model, so they may see the Provider types (and nothing else
  // of providers/).
  boundary(['src/tools/**/*.ts'], others('tools', 'core'), {
    except: { providers: 'types.js' },
    neovim: true,
  }),
  boundary(['src/sandbox/**/*.ts'], others('sandbox', 'core'), { neovim: true }),
  boundary(['src/chat/**/*.ts'], others('chat', 'tools', 'providers', 'core'), { neovim: true }),
  boundary(['src/plugins/**/*.ts'], ['auth', 'chat', 'mcp', 'cli', 'nvim'], { neovim: true }),
  boundary(['src/mcp/**/*.ts'], ['chat', 'plugins', 'cli', 'nvim']),
  boundary(['src/cli/**/*.ts'], ['plugins', 'nvim']),
  boundary(['src/nvim/**/*.ts'], ['cli']),
);
