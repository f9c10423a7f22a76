// Which language a page or a mail is in. For a page: the authorization request's `ui_locales`
// (OIDC Core §3.1.2.1) on the sign-in and consent pages and the pages reached from them, then the
// browser's Accept-Language (RFC 9110 §12.5.4, quality values honoured), then DEFAULT_LOCALE.
// For a mail: the language of the request that caused it, or, when the person did not cause it
// (a notice, an invitation from the CLI or console), the language they last used, else the default.
import type { Context } from 'koa';
import { CATALOGS, LOCALES, translator, type Translator } from './catalogs.js';

/**
 * Set by the interaction pages from the request's `ui_locales` and cleared by a request without
 * one, so "Forgot password?" and sign-up, reached from there, stay in the app's chosen language.
 * A browser-session cookie holding a language tag: nothing personal, nothing to sign.
 */
export const UI_LOCALES_COOKIE = 'gatehouse.ui_locales';

/** The catalog for a language tag: `de-AT` is served by `de`; undefined when none fits. */
export function supportedLocale(tag: string): string | undefined {
  const wanted = tag.trim().toLowerCase();
  if (!wanted || wanted === '*') return undefined;
  const exact = LOCALES.find((locale) => locale.toLowerCase() === wanted);
  if (exact) return exact;
  const primary = wanted.split('-')[0]!;
  return CATALOGS.has(primary) ? primary : undefined;
}

/** `ui_locales`: space-separated tags, most preferred first. */
export function fromUiLocales(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  for (const tag of value.split(' ')) {
    const locale = supportedLocale(tag);
    if (locale) return locale;
  }
  return undefined;
}

/** Accept-Language: the supported tag of highest quality; equal qualities keep the header's order; q=0 means "not this one". */
export function fromAcceptLanguage(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const ranked = header.split(',').map((part, index) => {
    const [tag = '', ...params] = part.split(';');
    // A malformed weight counts as q=0: the browser's preference is unknown, so it is not taken.
    const q = params.map((p) => /^\s*q\s*=(.*)$/i.exec(p)?.[1]).find((v) => v !== undefined);
    const quality = q === undefined ? 1 : /^\s*(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$/.test(q) ? Number(q) : 0;
    return { tag, quality, index };
  });
  ranked.sort((a, b) => b.quality - a.quality || a.index - b.index);
  for (const { tag, quality } of ranked) {
    if (quality <= 0) continue;
    const locale = supportedLocale(tag);
    if (locale) return locale;
  }
  return undefined;
}

/** Chooses languages for one server: DEFAULT_LOCALE is its last word. */
export class Languages {
  constructor(readonly defaultLocale: string) {
    if (!CATALOGS.has(defaultLocale)) throw new Error(`DEFAULT_LOCALE ${defaultLocale} has no catalog in locales/`);
  }

  /** The language of this request's page, and of any mail the request causes. */
  forRequest(ctx: Context): string {
    const chosen = ctx.state.locale as string | undefined;
    if (chosen) return chosen;
    const locale = fromUiLocales(ctx.cookies.get(UI_LOCALES_COOKIE)) ?? fromAcceptLanguage(ctx.get('accept-language')) ?? this.defaultLocale;
    ctx.state.locale = locale;
    return locale;
  }

  /**
   * On an interaction page: the authorization request's ui_locales decide, for this page and,
   * through the cookie, for the pages reached from it. Without one, the cookie of an earlier
   * request goes, and the browser's own preference decides.
   */
  followUiLocales(ctx: Context, uiLocales: unknown): void {
    const locale = fromUiLocales(uiLocales);
    const options = { httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, path: '/', overwrite: true };
    if (locale) {
      ctx.state.locale = locale;
      if (ctx.cookies.get(UI_LOCALES_COOKIE) !== locale) ctx.cookies.set(UI_LOCALES_COOKIE, locale, options);
    } else if (ctx.cookies.get(UI_LOCALES_COOKIE)) {
      ctx.cookies.set(UI_LOCALES_COOKIE, null, options);
      ctx.state.locale = fromAcceptLanguage(ctx.get('accept-language')) ?? this.defaultLocale;
    }
  }

  /** For a mail the person did not cause: the language they last used, else the default. */
  forPerson(person: { locale?: string | null }): string {
    return (person.locale && CATALOGS.has(person.locale)) ? person.locale : this.defaultLocale;
  }

  translator(locale: string): Translator {
    return translator(locale);
  }
}
