import { describe, expect, it } from 'vitest';
import {
  AbortError,
  AuthError,
  ConfigError,
  RateLimitError,
  RuneError,
  isAbort,
  throwIfAborted,
  toRuneError,
} from '../../../src/core/errors.js';

describe('errors', () => {
  it('are RuneErrors with stable codes and their own names', () => {
    const e = new RateLimitError('slow down; retry in 2 s', 2000);
    expect(e).toBeInstanceOf(RuneError);
    expect(e.code).toBe('rate_limited');
    expect(e.name).toBe('RateLimitError');
    expect(e.retryAfterMs).toBe(2000);
    expect(e.toJSON()).toEqual({
      code: 'rate_limited',
      message: 'slow down; retry in 2 s',
      name: 'RateLimitError',
    });
    expect(new AuthError('no key', { provider: 'claude' }).provider).toBe('claude');
  });

  it('name the config key', () => {
    expect(new ConfigError('providers.ollama.url', 'must be a URL').message).toBe(
      'config: providers.ollama.url: must be a URL',
    );
    expect(new ConfigError('', 'empty').message).toBe('config: empty');
  });

  it('recognise cancellation from any library', () => {
    const dom = new Error('aborted');
    dom.name = 'AbortError';
    expect(isAbort(dom)).toBe(true);
    expect(isAbort(new AbortError())).toBe(true);
    expect(isAbort(new Error('x'))).toBe(false);
    expect(toRuneError(dom)).toBeInstanceOf(AbortError);
    expect(toRuneError('plain').code).toBe('internal');
    const keep = new AuthError('x');
    expect(toRuneError(keep)).toBe(keep);
    const ac = new AbortController();
    expect(() => throwIfAborted(ac.signal)).not.toThrow();
    ac.abort();
    expect(() => throwIfAborted(ac.signal)).toThrow(AbortError);
  });
});
