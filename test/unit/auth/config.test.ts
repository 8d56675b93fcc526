import { describe, expect, it } from 'vitest';
import { parseAuthConfig } from '../../../src/auth/config.js';
import { sharedCopilotServer } from '../../../src/auth/copilot-service.js';
import { ConfigError } from '../../../src/core/errors.js';
import { createMemoryLogger } from '../../../src/core/log.js';

describe('auth config', () => {
  it('has defaults, and treats msgpack nil as unset', () => {
    expect(parseAuthConfig({})).toEqual({
      store: 'auto',
      copilot: {
        minIntervalMs: 500,
        githubUrl: 'https://github.com',
        apiUrl: 'https://api.github.com',
        settings: {},
        timeoutMs: 30000,
      },
      oauth: {},
    });
    const c = parseAuthConfig({
      auth: {
        store: 'file',
        file: null,
        copilot: { server: '/x/language-server.js', settings: { http: { proxy: 'http://p:1' } } },
        oauth: {
          work: {
            authorization_url: 'https://id.example.com/authorize',
            token_url: 'https://id.example.com/token',
            client_id: 'rune',
            scopes: ['read'],
          },
        },
      },
    });
    expect(c.store).toBe('file');
    expect(c.file).toBeUndefined();
    expect(c.copilot.server).toBe('/x/language-server.js');
    expect(c.oauth.work).toEqual({
      authorizationEndpoint: 'https://id.example.com/authorize',
      tokenEndpoint: 'https://id.example.com/token',
      clientId: 'rune',
      scopes: ['read'],
    });
  });

  it('takes empty Lua tables (which arrive as empty arrays) as empty maps', () => {
    const c = parseAuthConfig({ auth: { copilot: { settings: [] }, oauth: [] } });
    expect(c.copilot.settings).toEqual({});
    expect(c.oauth).toEqual({});
  });

  it('names the bad key', () => {
    const bad = (auth: unknown) => {
      try {
        parseAuthConfig({ auth });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).path;
      }
      throw new Error('no error');
    };
    expect(bad({ copilot: { api_url: 'not a url' } })).toBe('auth.copilot.api_url');
    expect(bad({ store: 'vault' })).toBe('auth.store');
    expect(bad({ oauth: { x: { token_url: 'https://t', client_id: 'c' } } })).toBe(
      'auth.oauth.x.authorization_url',
    );
  });
});

describe('shared Copilot language server', () => {
  it('is one per server, settings and spacing, whatever the logger or editor', () => {
    const a = sharedCopilotServer({ server: '/a.js', settings: { x: { y: 1 } }, minIntervalMs: 5 });
    const b = sharedCopilotServer({
      server: '/a.js',
      settings: { x: { y: 1 } },
      minIntervalMs: 5,
      logger: createMemoryLogger(),
      editorInfo: { name: 'Neovim', version: '0.12' },
    });
    const c = sharedCopilotServer({ server: '/a.js', settings: { x: { y: 2 } }, minIntervalMs: 5 });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(a.peek()).toBeUndefined();
  });
});
