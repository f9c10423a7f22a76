// What PostgreSQL can hold as text and jsonb: no NUL, no unpaired UTF-16 surrogate. A pair (any
// character beyond the Basic Multilingual Plane, an emoji say) is text like any other.
import { describe, expect, it } from 'vitest';
import { isOneLine, isStorableJson, isStorableText, storableExcerpt } from '../../src/db/text.js';

describe('isStorableText', () => {
  it('takes any well-formed text, characters beyond the BMP included', () => {
    for (const text of ['', 'plain', 'Zoë', '🔑 key', '\ud83d\udd11', 'tab\tand\nnewline', '\uFFFD']) expect(isStorableText(text), JSON.stringify(text)).toBe(true);
  });

  it('refuses a NUL and an unpaired surrogate, wherever it is', () => {
    for (const text of ['\u0000', 'a\u0000b', '\ud83d', 'key \ud83d', '\udd11\ud83d', '\udd11']) expect(isStorableText(text), JSON.stringify(text)).toBe(false);
  });
});

describe('isOneLine', () => {
  it('takes a name in any script, emoji and marks included', () => {
    for (const name of ['Grace Hopper', 'Ÿvonne d’Arc', 'محمد', '李小龍', 'Zoë 👩🏽‍💻']) expect(isOneLine(name), name).toBe(true);
  });

  it('refuses line breaks, other control characters and direction overrides or isolates', () => {
    for (const name of ['a\nb', 'a\rb', 'a\tb', 'a\u0085b', '\u202Eelpmaxe\u202C', 'a\u2066b\u2069']) expect(isOneLine(name), JSON.stringify(name)).toBe(false);
  });
});

describe('isStorableJson', () => {
  it('looks at every string, member names included, at any depth', () => {
    expect(isStorableJson({ keys: [{ kty: 'EC', kid: '🔑' }], n: 1, ok: true, none: null })).toBe(true);
    expect(isStorableJson({ keys: [{ kty: 'EC', kid: 'k\u0000' }] })).toBe(false);
    expect(isStorableJson({ keys: [{ kty: 'EC', 'x\ud800': 1 }] })).toBe(false);
    expect(isStorableJson([[['\udc00']]])).toBe(false);
  });
});

describe('storableExcerpt', () => {
  it('keeps what it can of text it cuts, replacing what PostgreSQL cannot hold', () => {
    expect(storableExcerpt('a\u0000b\ud83d', 10)).toBe('a\uFFFDb\uFFFD');
    expect(storableExcerpt('', 10)).toBeNull();
  });
});
