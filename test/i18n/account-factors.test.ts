// The pages and mails that came with second factors, passkeys and the device flow, in German for a
// browser that asks for it (Accept-Language) and in English otherwise, over real HTTP with mail to a
// real SMTP server: the account's factor pages, /device, and the notice an added factor sends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../support/flows.js';
import { startMailingServer, type MailingServer } from '../support/mailing.js';
import { formOf, type Response } from '../support/user-agent.js';
import { GermanBrowser } from './support.js';
import { signInToAccount } from '../account/support.js';
import { enrolAuthenticator } from '../factors/support.js';

let mailing: MailingServer;

beforeAll(async () => {
  mailing = await startMailingServer();
});

afterAll(async () => {
  await mailing?.stop();
});

function langOf(page: Response): string | undefined {
  return /<html lang="([^"]+)"/.exec(page.body)?.[1];
}

describe('second factors and passkeys in German', () => {
  it('shows the passkeys page, adding an authenticator app and the recovery codes in German, and the notice mail comes in German', async () => {
    const person = await createPerson(mailing.server);
    const { agent, page } = await signInToAccount(mailing.server, person, '/account/passkeys', new GermanBrowser(mailing.server.issuer));
    expect(langOf(page)).toBe('de');
    expect(page.body).toContain('<title>');
    expect(page.body).toContain('<h1 id="page-title">Passkeys</h1>');
    expect(page.body).toContain('Melden Sie sich mit Fingerabdruck, Gesichtserkennung oder der PIN Ihres Geräts an');
    expect(page.body).toContain('Sie haben noch keine Passkeys.');
    expect(page.body).toContain('<h2>Passkey hinzufügen</h2>');
    expect(page.body).not.toContain('You have no passkeys yet');

    const adding = await agent.follow(`${mailing.server.issuer}/account/security/authenticator`);
    expect(adding.body).toContain('<h1 id="page-title">Authenticator-App hinzufügen</h1>');
    expect(adding.body).toContain('alt="QR-Code, um Gatehouse zu Ihrer Authenticator-App hinzuzufügen"');
    // The name it gets unless the person gives one is in their language too.
    expect(adding.body).toMatch(/<input id="name" name="name" type="text" maxlength="60" value="Authenticator-App">/);

    const { codesPage, recoveryCodes } = await enrolAuthenticator(mailing.server, agent, Date.now());
    expect(recoveryCodes).toHaveLength(10);
    expect(codesPage.body).toContain('<h1 id="page-title">Ihre Wiederherstellungscodes</h1>');
    expect(codesPage.body).toContain('Ihre Authenticator-App ist hinzugefügt.');
    expect(codesPage.body).toContain('Ich habe sie gespeichert');

    await mailing.deliver();
    const mail = mailing.mailsTo(person.email).find((m) => m.subject === 'Ihrem Gatehouse-Konto wurde eine Anmeldemethode hinzugefügt');
    expect(mail, JSON.stringify(mailing.mailsTo(person.email).map((m) => m.subject))).toBeDefined();
    expect(mail!.text).toContain(`Hallo ${person.name},`);
    expect(mail!.text).toContain('eine Anmeldemethode hinzugefügt: Eine Authenticator-App.');
    expect(mail!.text).toContain(`prüfen Sie Ihre Anmeldemethoden: ${mailing.server.issuer}/account/security`);
    expect(mail!.html).toContain('<html lang="de">');
    expect(mail!.html).toContain(`<a href="${mailing.server.issuer}/account/security">${mailing.server.issuer}/account/security</a>`);
    expect(`${mail!.text}${mail!.html}`).not.toMatch(/mail\.\w+\./);
  });

  it('keeps them in English for a browser that asks for no language', async () => {
    const person = await createPerson(mailing.server);
    const { agent, page } = await signInToAccount(mailing.server, person, '/account/passkeys');
    expect(langOf(page)).toBe('en');
    expect(page.body).toContain('You have no passkeys yet.');
    await enrolAuthenticator(mailing.server, agent, Date.now());
    await mailing.deliver();
    const mail = mailing.mailsTo(person.email).find((m) => m.subject === 'A sign-in method was added to your Gatehouse account')!;
    expect(mail.text).toContain('An authenticator app was added to your Gatehouse account on');
  });
});

describe('the device page in German', () => {
  it('asks for the code and explains a wrong one in German', async () => {
    const browser = new GermanBrowser(mailing.server.issuer);
    const page = await browser.follow(`${mailing.server.issuer}/device`);
    expect(page.status).toBe(200);
    expect(langOf(page)).toBe('de');
    expect(page.body).toContain('<h1 id="page-title">Gerät verbinden</h1>');
    expect(page.body).toContain('<label for="user_code">Code</label>');
    expect(page.body).toContain('>Weiter</button>');

    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
    const wrong = await browser.follow(`${mailing.server.issuer}/device`, { form: { xsrf, user_code: 'BCDF-GHJK' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('Diesen Code kennen wir nicht, oder er ist abgelaufen oder wurde schon verwendet.');
    expect(formOf(wrong.body).action).toMatch(/\/device$/);
  });
});
