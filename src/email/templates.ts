// Every mail Gatehouse writes comes from a pair of templates in views/mail/: `<name>.text.eta` and
// `<name>.html.eta`, each inside the shared layout of its kind, so mails look alike, escape alike
// and keep their words in views/ (where pages keep theirs) rather than in code. A feature names its
// template and hands it data; what comes back is a checked MailMessage for the outbox.
import path from 'node:path';
import { Eta } from 'eta';
import { translator } from '../i18n/catalogs.js';
import { VIEWS_DIR } from '../paths.js';
import { composeMail, type MailMessage } from './message.js';

const MAIL_VIEWS = path.join(VIEWS_DIR, 'mail');

// Two engines: the HTML part escapes what it interpolates; the text part is plain text, where
// escaping would show `&amp;` to the reader.
const html = mailEngine({ views: MAIL_VIEWS, cache: true, autoEscape: true });
const text = mailEngine({ views: MAIL_VIEWS, cache: true, autoEscape: false, autoTrim: false });

/**
 * Mail templates are named `<name>.text`, `<name>.html` (and `<name>.subject`), which Eta takes
 * for an extension and so would not add `.eta` to: here every name gets it, with or without one.
 */
function mailEngine(options: ConstructorParameters<typeof Eta>[0]): Eta {
  const engine = new Eta(options);
  const resolve = engine.resolvePath!;
  engine.resolvePath = function resolveMailTemplate(template, resolveOptions) {
    return resolve.call(this, template.endsWith('.eta') ? template : `${template}.eta`, resolveOptions);
  };
  return engine;
}

export interface MailContent {
  /** The template's name: views/mail/<name>.text.eta and <name>.html.eta. */
  template: string;
  to: string;
  /**
   * The subject line's catalog key (interpolated with `data`); without it, views/mail/<name>.subject.eta
   * gives it, so a feature keeps every word of its mail in views/ and locales/.
   */
  subject?: string;
  /** What the templates read as `it.*`; `it.subject` and `it.issuer` are always there. */
  data?: Record<string, unknown>;
  /**
   * The recipient's language (src/i18n/negotiation.ts): the request's that caused the mail, or the
   * one they last used. Templates get `t`, `html` and `strong` for it, as pages do.
   */
  locale: string;
}

/**
 * Renders both parts of a mail (and its subject, unless given) and checks it (one recipient, one-line subject, nothing remote).
 * `issuer` is the public URL people know Gatehouse by: the footer names it.
 */
export function renderMail(content: MailContent, issuer: string): MailMessage {
  const words = translator(content.locale);
  const language = { lang: words.locale, t: words.t, html: words.html, strong: words.strong, code: words.code, linkTo: words.linkTo, time: words.time };
  const subject = content.subject !== undefined ? words.t(content.subject, content.data) : text.render(`./${content.template}.subject`, { ...content.data, ...language, issuer }).trim();
  const data = { ...content.data, ...language, subject, issuer };
  return composeMail({
    to: content.to,
    subject,
    text: text.render(`./${content.template}.text`, data),
    html: html.render(`./${content.template}.html`, data),
  });
}
