// Moments as Gatehouse's pages show them, always in UTC so everyone reading a page reads the same.
// Two readers, two styles: a person on their own account pages reads a date in words; an
// administrator in the console reads it the way the audit log and the admin API's JSON write it,
// to the minute, so the two can be compared at a glance.

/** A date as people read it, and as machines do (the <time datetime> attribute). */
export interface ShownDate {
  iso: string;
  text: string;
}

/** How each language writes a date: English as in Britain (day first), others as their tag says. */
const DATE_LOCALES: Record<string, string> = { en: 'en-GB' };
const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(locale: string): Intl.DateTimeFormat {
  let format = formats.get(locale);
  if (!format) {
    format = new Intl.DateTimeFormat(DATE_LOCALES[locale] ?? locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
    formats.set(locale, format);
  }
  return format;
}

/** "25 Nov 2026, 13:29 UTC" ("25.11.2026, 13:29 UTC" in German), for the account pages and mails. */
export function shownDate(date: Date, locale = 'en'): ShownDate {
  return { iso: date.toISOString(), text: `${formatFor(locale).format(date)} UTC` };
}

/** "2026-11-25 13:29 UTC", for the console; `otherwise` when there is no moment to show. */
export function when(date: Date | null | undefined, otherwise = '—'): string {
  if (!date) return otherwise;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** `2026-11-25` for a date input. */
export function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}
