// Gatehouse's own pages in the reader's language, down to what used to be stored or written in
// English: the name of the account its sign-in page continues to, the recovery codes' name and the
// dates on the security page, and the refusals of the email page. German for a browser that asks
// for it (Accept-Language), English otherwise, over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shownDate } from '../../src/presentation/dates.js';
import { accountForm, signInToAccount } from '../account/support.js';
import { enrolAuthenticator } from '../factors/support.js';
import { createPerson, registerApp } from '../support/flows.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import { UserAgent, type Response } from '../support/user-agent.js';
import { GermanBrowser } from './support.js';

let mailing: MailingServer;

beforeAll(async () => {
  mailing = await startMailingServer();
});

afterAll(async () => {
  await mailing?.stop();
});

describe("Gatehouse's own pages in German", () => {
  it('the sign-out page speaks the language the app asks for with ui_locales', async () => {
    const app = await registerApp(mailing.server);
    const person = await createPerson(mailing.server);
    const { agent } = await signInToAccount(mailing.server, person, '/account');
    const page = (locales?: string) => agent.follow(`${mailing.server.issuer}/session/end?client_id=${app.clientId}${locales ? `&ui_locales=${locales}` : ''}`);
    const german = await page('de');
    expect(german.status).toBe(200);
    expect(german.body).toContain('<html lang="de">');
    expect(german.body).toContain('Abmelden');
    expect((await page()).body).toContain('<html lang="en">');
  });

  it('the sign-in page for the account pages continues to "Ihrem Gatehouse-Konto", and in English to "your Gatehouse account"', async () => {
    const german = await new GermanBrowser(mailing.server.issuer).follow(`${mailing.server.issuer}/account`);
    expect(german.url).toMatch(/\/interaction\//);
    const text = (page: Response) => page.body.replace(/<[^>]+>/g, '');
    expect(text(german)).toContain('um mit Ihrem Gatehouse-Konto fortzufahren');
    expect(text(german)).toContain('Abbrechen und zu Ihrem Gatehouse-Konto zurückkehren');
    expect(text(german)).not.toContain('your Gatehouse account');
    const english = await new UserAgent(mailing.server.issuer).follow(`${mailing.server.issuer}/account`);
    expect(text(english)).toContain('to continue to your Gatehouse account');
  });

  it('the security page names the recovery codes and shows every date in German', async () => {
    const person = await createPerson(mailing.server);
    const { agent } = await signInToAccount(mailing.server, person, '/account/security', new GermanBrowser(mailing.server.issuer));
    await enrolAuthenticator(mailing.server, agent, Date.now());
    const page = await agent.follow(`${mailing.server.issuer}/account/security`);
    const codes = /<li class="account-item" data-factor="recovery_codes">[\s\S]*?<\/li>/.exec(page.body)?.[0] ?? '';
    expect(codes).toContain('<h2>Wiederherstellungscodes</h2>');
    expect(page.body).not.toContain('Recovery codes');
    const factors = await mailing.server.db('factors').where({ user_id: person.id }).select('created_at');
    for (const { created_at: createdAt } of factors) {
      expect(page.body).toContain(shownDate(new Date(createdAt), 'de').text);
    }
  });

  it('the email page refuses an address that is not one, or is already theirs, in German', async () => {
    const person = await createPerson(mailing.server);
    const { agent, page } = await signInToAccount(mailing.server, person, '/account/email', new GermanBrowser(mailing.server.issuer));
    const change = accountForm(page.body, '/account/email', (fields) => !('token' in fields));
    const post = (address: string) => agent.request(`${mailing.server.issuer}/account/email`, { form: { csrf: change.fields.csrf!, new_email: address, current_password: person.password } });
    const invalid = await post('not an address');
    expect(invalid.status).toBe(400);
    expect(invalid.body).toContain('Geben Sie eine gültige E-Mail-Adresse ein.');
    const same = await post(person.email.toUpperCase());
    expect(same.status).toBe(400);
    expect(same.body).toContain('Das ist bereits Ihre E-Mail-Adresse.');
  });
});
