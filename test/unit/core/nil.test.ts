import { describe, expect, it } from 'vitest';
import { stripNil } from '../../../src/core/nil.js';

describe('stripNil', () => {
  it('drops null members at every depth and keeps everything else', () => {
    expect(stripNil({ a: null, b: 1, c: { d: null, e: [null, { f: null, g: 'x' }] } })).toEqual({
      b: 1,
      c: { e: [null, { g: 'x' }] },
    });
    expect(stripNil('s')).toBe('s');
    expect(stripNil(null)).toBeNull();
  });
});
