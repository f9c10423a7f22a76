// "Not now, try again": a 503 with Retry-After, never cached, for a request Gatehouse could not
// take on (too busy) or could not finish (its database gone). The friendly page for a person's
// browser, OAuth error JSON (`temporarily_unavailable`, RFC 6749 §4.1.2.1's code for this) for apps
// and APIs. Overload and a database outage say so in their own words, through this one answer.
import type { Context } from 'koa';
import type { Pages } from './pages.js';

export type Unavailability = 'busy' | 'database';

/** The page's heading and message are catalog keys; the JSON's description is for developers, in English. */
const WORDS: Record<Unavailability, { heading: string; message: string; description: string }> = {
  busy: {
    heading: 'error.busy.heading',
    message: 'error.busy.message',
    description: 'The server is busy; try again in a moment.',
  },
  database: {
    heading: 'error.database.heading',
    message: 'error.database.message',
    description: 'Gatehouse cannot reach its database right now. Try again shortly.',
  },
};

export function answerUnavailable(ctx: Context, pages: Pages, why: Unavailability, retryAfterSeconds: number, asHtml: boolean): void {
  const words = WORDS[why];
  if (asHtml) {
    pages.error(ctx, { status: 503, heading: words.heading, message: words.message });
  } else {
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable', error_description: words.description };
  }
  ctx.set('Retry-After', String(retryAfterSeconds));
  ctx.set('Cache-Control', 'no-store');
}

/** Browsers ask for text/html on every navigation and form post; apps and APIs do not. */
export function asksForHtml(ctx: Context): boolean {
  return /\btext\/html\b/i.test(ctx.get('accept'));
}
