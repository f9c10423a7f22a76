// Message catalogs: every word a page or a mail shows, one file per language in locales/
// (`en.json`, `de.json`, ...), read once at start-up, so adding a language is adding a file and
// restarting. Keys name the page or mail they belong to (`login.title`, `mail.recovery.subject`).
//
// English is the source: it has every key, and a key missing from another catalog falls back to
// the English text (test/i18n/catalogs.test.ts keeps English complete and the shipped German too).
// Values are interpolated by name, `{clientName}`; `t` gives plain text for templates to escape,
// `html` gives markup whose catalog text is trusted and whose values are escaped here.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LOCALES_DIR } from '../paths.js';

export const SOURCE_LOCALE = 'en';

export type Catalog = Readonly<Record<string, string>>;
export type Values = Readonly<Record<string, unknown>>;

/** A value `html` interpolates as it is: markup the template built from escaped parts. */
export class Markup {
  constructor(readonly html: string) {}
  toString(): string {
    return this.html;
  }
}

/**
 * Words chosen in code and shown by a template (a form's problem, a throttle's wait): the key and
 * its values, translated where the page is rendered. A plain string is a key too. A value that is
 * itself a Message (the label of a form field) is said in the page's language too.
 */
export interface Message {
  key: string;
  values?: Values;
}
export type Words = string | Message;

/** What every template gets: `t` for text, `html` for markup, `strong`, `code` and `linkTo` to mark a value up in `html`. */
export interface Translator {
  readonly locale: string;
  t(key: Words, values?: Values): string;
  html(key: Words, values?: Values): string;
  /** `id` lets a test or aria attribute find the value. */
  strong(value: unknown, id?: string): Markup;
  code(value: unknown): Markup;
  /** A link whose text is its own address (not `link`: mails name their one-time link so). */
  linkTo(href: unknown): Markup;
  /** A date as src/presentation/dates.ts shows it, in a <time> element machines can read. */
  time(date: { iso: string; text: string }): Markup;
}

/** A language tag as a file name may spell it: `de`, `pt-BR`. */
const TAG = /^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/;

export function loadCatalogs(dir: string = LOCALES_DIR): ReadonlyMap<string, Catalog> {
  const catalogs = new Map<string, Catalog>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    const locale = file.slice(0, -'.json'.length);
    if (!TAG.test(locale)) throw new Error(`locales/${file}: the file name must be a language tag, e.g. de.json`);
    const parsed: unknown = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
      throw new Error(`locales/${file}: a catalog is one JSON object of key → text`);
    }
    catalogs.set(locale, parsed as Catalog);
  }
  if (!catalogs.has(SOURCE_LOCALE)) throw new Error(`locales/${SOURCE_LOCALE}.json is missing: English is every other catalog's fallback`);
  return catalogs;
}

/** Read once, when the server starts. */
export const CATALOGS = loadCatalogs();

/** The languages Gatehouse speaks, English first: discovery's ui_locales_supported. */
export const LOCALES: readonly string[] = [SOURCE_LOCALE, ...[...CATALOGS.keys()].filter((l) => l !== SOURCE_LOCALE)];

function interpolate(text: string, values: Values | undefined, show: (value: unknown) => string): string {
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? show(values[name]) : whole));
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * The text of `key` in `locale`, else in English, else the key itself: a page someone added with
 * words not yet in a catalog still shows them (the catalog test lists every key the code uses).
 */
export function lookup(locale: string, key: string): string {
  return CATALOGS.get(locale)?.[key] ?? CATALOGS.get(SOURCE_LOCALE)![key] ?? key;
}

/** With a numeric `count`, `key.one` / `key.other` (the language's plural rules) when the catalog has them. */
function pluralKey(locale: string, key: string, values: Values | undefined): string {
  const count = values?.count;
  if (typeof count !== 'number') return key;
  const known = (k: string) => CATALOGS.get(locale)?.[k] !== undefined || CATALOGS.get(SOURCE_LOCALE)![k] !== undefined;
  const form = `${key}.${new Intl.PluralRules(locale).select(count)}`;
  if (known(form)) return form;
  return known(`${key}.other`) ? `${key}.other` : key;
}

function asMessage(words: Words): Message {
  return typeof words === 'string' ? { key: words } : words;
}

/** Whether a value is words (the label of the field a refusal is about): `t` says it in the same language. */
export function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && !(value instanceof Markup) && typeof (value as Message).key === 'string';
}

export function translator(locale: string): Translator {
  const t = (words: Words, values?: Values): string => {
    const { key, values: own } = asMessage(words);
    const given = own ?? values;
    return interpolate(lookup(locale, pluralKey(locale, key, given)), given, (v) => (isMessage(v) ? t(v) : String(v ?? '')));
  };
  return {
    locale,
    t,
    html: (words, values) => {
      const { key, values: own } = asMessage(words);
      const given = own ?? values;
      return interpolate(lookup(locale, pluralKey(locale, key, given)), given, (v) => (v instanceof Markup ? v.html : escapeHtml(isMessage(v) ? t(v) : v)));
    },
    strong: (value, id) => new Markup(`<strong${id ? ` id="${escapeHtml(id)}"` : ''}>${escapeHtml(value)}</strong>`),
    code: (value) => new Markup(`<code>${escapeHtml(value)}</code>`),
    linkTo: (href) => new Markup(`<a href="${escapeHtml(href)}">${escapeHtml(href)}</a>`),
    time: (date) => new Markup(`<time datetime="${escapeHtml(date.iso)}">${escapeHtml(date.text)}</time>`),
  };
}
