// GET /dev/mail: what the development mailbox (./dev-mailbox.ts) received, for a developer to read
// and follow. Mounted only outside production and only when mail goes to that mailbox (src/app.ts).
import Router from '@koa/router';
import type { Pages } from '../http/pages.js';
import type { DevelopmentMailbox } from './dev-mailbox.js';

export const DEV_MAIL_PATH = '/dev/mail';

export function devMailRoutes(mailbox: DevelopmentMailbox, pages: Pages): Router {
  const router = new Router();
  router.get(DEV_MAIL_PATH, (ctx) => {
    pages.render(ctx, 'dev-mail', 'devMail.title', { mails: mailbox.mails });
  });
  return router;
}
