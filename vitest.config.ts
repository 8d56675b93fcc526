import { defineConfig } from 'vitest/config';

const nvim010 = process.env.RUNE_NVIM_010;
const nvimLatest = process.env.RUNE_NVIM_LATEST;

// Integration tests run once per Neovim under test (0.10.x and the newest).
const nvims: { name: string; bin: string | undefined }[] =
  nvim010 || nvimLatest
    ? [
        { name: 'nvim-0.10', bin: nvim010 },
        { name: 'nvim-latest', bin: nvimLatest },
      ].filter((n) => n.bin)
    : [{ name: 'nvim', bin: undefined }];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30000,
    hookTimeout: 30000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 80 },
      reportOnFailure: true,
    },
    projects: [
      {
        extends: true as const,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/mcp/**/*.test.ts'] },
      },
      ...nvims.map((n) => ({
        extends: true as const,
        test: {
          name: n.name,
          include: ['test/integration/**/*.test.ts'],
          env: n.bin ? { RUNE_TEST_NVIM: n.bin } : {},
        },
      })),
      // The built plugin as users run it (dist/ only), once per Neovim under test:
      // e2e-nvim-0.10 and e2e-nvim-latest (select both with --project 'e2e*').
      ...nvims.map((n) => ({
        extends: true as const,
        test: {
          name: `e2e-${n.name}`,
          include: ['test/e2e/**/*.test.ts'],
          // Each test starts Neovim, the host and the peers from scratch on a shared machine.
          testTimeout: 60000,
          globalSetup: ['test/e2e/global-setup.ts'],
          env: n.bin ? { RUNE_TEST_NVIM: n.bin } : {},
        },
      })),
    ],
  },
});
