// Every mail Gatehouse writes comes from a pair of templates in views/mail/: `<name>.text.eta` and
// `<name>.html.eta`, each inside the shared layout of its kind, so mails look alike, escape alike
// and keep their words in views/ (where pages keep theirs) rather than in code. A feature names its
// template and hands it data; what comes back is a checked MailMessage for the outbox.
import path from 'node:path';
import { Eta } from 'eta';
import { VIEWS_DIR } from '../paths.js';
import { composeMail, type MailMessage } from './message.js';

const MAIL_VIEWS = path.join(VIEWS_DIR, 'mail');

/**
 * Eta adds `.eta` only to a name without an extension, and `verify.text` has one (`.text`): without
 * this, neither a mail's template nor the layout it names (`./layout.text`) would be found.
 */
function withEtaSuffix(engine: Eta): Eta {
  const resolve = engine.resolvePath!;
  engine.resolvePath = function resolveMailTemplate(template, options) {
    return resolve.call(this, template.endsWith('.eta') ? template : `${template}.eta`, options);
  };
  return engine;
}

// Two engines: the HTML part escapes what it interpolates; the text part is plain text, where
// escaping would show `&amp;` to the reader.
const html = withEtaSuffix(new Eta({ views: MAIL_VIEWS, cache: true, autoEscape: true }));
const text = withEtaSuffix(new Eta({ views: MAIL_VIEWS, cache: true, autoEscape: false, autoTrim: false }));

export interface MailContent {
  /** The template's name: views/mail/<name>.text.eta and <name>.html.eta. */
  template: string;
  to: string;
  subject: string;
  /** What the templates read as `it.*`; `it.subject` and `it.issuer` are always there. */
  data?: Record<string, unknown>;
}

/**
 * Renders both parts of a mail and checks it (one recipient, one-line subject, nothing remote).
 * `issuer` is the public URL people know Gatehouse by: the footer names it.
 */
export function renderMail(content: MailContent, issuer: string): MailMessage {
  const data = { ...content.data, subject: content.subject, issuer };
  return composeMail({
    to: content.to,
    subject: content.subject,
    text: text.render(`./${content.template}.text`, data),
    html: html.render(`./${content.template}.html`, data),
  });
}
