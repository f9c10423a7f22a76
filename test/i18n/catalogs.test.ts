// The catalogs stay whole: English has every key a template or the code names, no other language
// has a key English lacks (it would never be shown), the shipped German has every key, and each
// translation names the same values as its English. A new view or message that forgets a key fails
// here rather than showing its key to people.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES } from '../../src/audit/events.js';
import { CATALOGS, LOCALES, SOURCE_LOCALE, translator } from '../../src/i18n/catalogs.js';
import { fromAcceptLanguage, fromUiLocales, supportedLocale } from '../../src/i18n/negotiation.js';
import { PROJECT_ROOT } from '../../src/paths.js';

const english = CATALOGS.get(SOURCE_LOCALE)!;

function filesUnder(dir: string, extension: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return filesUnder(full, extension);
    return full.endsWith(extension) ? [full] : [];
  });
}

/** Keys a template names: it.t('…') and it.html('…'), and ternaries of two keys inside them. */
function keysInViews(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of filesUnder(path.join(PROJECT_ROOT, 'views'), '.eta')) {
    const text = readFileSync(file, 'utf8');
    for (const call of text.matchAll(/it\.(?:t|html)\(([^)]*)/g)) {
      for (const key of call[1]!.matchAll(/'([a-zA-Z][\w-]*(?:\.[\w-]+)+)'/g)) used.set(key[1]!, path.relative(PROJECT_ROOT, file));
    }
    // A title handed to the layout.
    for (const title of text.matchAll(/layout\([^)]*title: '([^']+)'/g)) used.set(title[1]!, path.relative(PROJECT_ROOT, file));
  }
  return used;
}

/** The first parts of every English key: a string in src/ starting with one and a dot is a key. */
const NAMESPACES = new Set([...Object.keys(english)].map((key) => key.split('.')[0]!));

/** Dotted names that are not words: audit event types (`consent.given`) and log events (`event: '…'`). */
const AUDIT_EVENTS = new Set<string>(AUDIT_EVENT_TYPES);
const NOT_WORDS = /(?:type|event)\??:\s*$|\|\s*$/;

function keysInSource(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of filesUnder(path.join(PROJECT_ROOT, 'src'), '.ts')) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/'([a-zA-Z][\w-]*)((?:\.[\w-]+)+)'/g)) {
      if (!NAMESPACES.has(match[1]!) || NOT_WORDS.test(text.slice(Math.max(0, match.index - 20), match.index))) continue;
      if (AUDIT_EVENTS.has(match[1]! + match[2]!)) continue;
      used.set(match[1]! + match[2]!, path.relative(PROJECT_ROOT, file));
    }
  }
  return used;
}

/** A key with plural forms is named without them: `throttle.tooManyAttempts.minutes` has `.one` and `.other`. */
function inEnglish(key: string): boolean {
  return key in english || `${key}.other` in english;
}

/** Keys built from a prefix in a template (`'mail.noticePasswordChanged.' + it.how`): each ending must exist. */
const BUILT_KEYS = [
  ...['recovery', 'admin', 'own'].map((how) => `mail.noticePasswordChanged.${how}`),
  ...['seconds', 'minutes', 'hours'].flatMap((unit) => ['one', 'other'].map((form) => `throttle.tooManyAttempts.${unit}.${form}`)),
  ...['openid', 'profile', 'email', 'offline_access'].map((scope) => `scope.${scope}`),
  ...['name', 'given_name', 'family_name', 'updated_at', 'email', 'email_verified'].map((claim) => `claim.${claim}`),
  ...['person', 'app', 'api'].flatMap((what) => ['heading', 'message'].map((part) => `admin.notFound.${what}.${part}`)),
  ...AUDIT_EVENT_TYPES.map((type) => `admin.audit.event.${type}`),
  ...['days', 'hours', 'seconds'].flatMap((unit) => ['one', 'other'].map((form) => `admin.duration.${unit}.${form}`)),
  ...['days', 'uses'].map((field) => `admin.tokens.problem.${field}`),
];

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
}

describe('the message catalogs', () => {
  it('has English, and every language is a file in locales/', () => {
    expect(LOCALES[0]).toBe('en');
    expect(LOCALES).toContain('de');
  });

  it('has every key the views name in English', () => {
    const missing = [...keysInViews()].filter(([key]) => !inEnglish(key)).map(([key, file]) => `${key} (${file})`);
    expect(missing).toEqual([]);
  });

  it('has every key the code names in English', () => {
    const missing = [...keysInSource(), ...BUILT_KEYS.map((key) => [key, 'built'] as const)]
      .filter(([key]) => !inEnglish(key)).map(([key, file]) => `${key} (${file})`);
    expect(missing).toEqual([]);
  });

  it('has no key in another language that English lacks', () => {
    for (const [locale, catalog] of CATALOGS) {
      expect(Object.keys(catalog).filter((key) => !(key in english)), locale).toEqual([]);
    }
  });

  it('has every English key in German, naming no value English does not give', () => {
    const german = CATALOGS.get('de')!;
    expect(Object.keys(english).filter((key) => !(key in german))).toEqual([]);
    // A translation may leave a value out (the password checker's English warning), never invent one.
    for (const [key, text] of Object.entries(german)) expect(placeholders(english[key]!), key).toEqual(expect.arrayContaining(placeholders(text)));
  });
});

describe('translating', () => {
  it('interpolates by name, escapes values in markup, and falls back to English, then to the key', () => {
    const de = translator('de');
    expect(de.t('login.lead', { clientName: 'Notes & <Co>' })).toBe('um mit Notes & <Co> fortzufahren');
    expect(de.html('login.lead', { clientName: de.strong('Notes & <Co>') })).toBe('um mit <strong>Notes &amp; &lt;Co&gt;</strong> fortzufahren');
    expect(de.html('consent.signedInAs', { email: '"x"@example.test' })).toBe('Angemeldet als &quot;x&quot;@example.test');
    expect(translator('xx').t('login.title')).toBe('Sign in');
    expect(de.t('Words not yet in a catalog.')).toBe('Words not yet in a catalog.');
  });

  it('says a value that is itself words (a field\'s label) in the same language, escaped in markup', () => {
    const tooLong = { key: 'problem.input.tooLong', values: { field: { key: 'admin.app.name' }, max: 200 } };
    expect(translator('de').t(tooLong)).toBe('„Name“ ist zu lang: höchstens 200 Zeichen.');
    expect(translator('en').t(tooLong)).toBe('“Name” is too long: at most 200 characters.');
    // A label is a key the code chose; what someone typed stays a plain value, never looked up.
    expect(translator('de').html({ key: 'problem.uri.fragment', values: { uri: 'admin.app.name<b>' } })).toBe('„admin.app.name&lt;b&gt;“ darf kein Fragment enthalten.');
  });

  it('chooses the plural form of the language', () => {
    expect(translator('en').t({ key: 'throttle.tooManyAttempts.minutes', values: { count: 1 } })).toBe('Too many attempts. Try again in 1 minute.');
    expect(translator('de').t({ key: 'throttle.tooManyAttempts.minutes', values: { count: 5 } })).toBe('Zu viele Versuche. Versuchen Sie es in 5 Minuten erneut.');
  });
});

describe('negotiating', () => {
  it('serves a regional tag from its language, and nothing for a language without a catalog', () => {
    expect(supportedLocale('de-CH')).toBe('de');
    expect(supportedLocale('EN')).toBe('en');
    expect(supportedLocale('fr')).toBeUndefined();
    expect(supportedLocale('*')).toBeUndefined();
  });

  it('reads ui_locales in order and Accept-Language by quality', () => {
    expect(fromUiLocales('fr de en')).toBe('de');
    expect(fromUiLocales(['de'])).toBeUndefined();
    expect(fromAcceptLanguage('en-US;q=0.7, de;q=0.8, *;q=0.1')).toBe('de');
    expect(fromAcceptLanguage('de;q=0.5, en;q=0.5')).toBe('de');
    expect(fromAcceptLanguage('de;q=0')).toBeUndefined();
    expect(fromAcceptLanguage('de;q=bogus, en')).toBe('en');
    expect(fromAcceptLanguage(undefined)).toBeUndefined();
  });
});
