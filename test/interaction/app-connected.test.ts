// The "app connected" notice (src/interaction/app-connected.ts): a person who allows an app they
// had not connected gets one short mail naming the app, what it may do in the consent page's
// words, and where to take it back; asking again (prompt=consent, another browser) sends nothing,
// and an app connected again after being removed is news again. EMAIL_NOTIFICATIONS=false stops it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, obtainTokens, registerApp, signIn, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { mailsTo, partOf, subjectOf } from '../support/mail.js';
import { startSmtpReceiver, type SmtpReceiver } from '../support/smtp.js';
import { formOf, UserAgent } from '../support/user-agent.js';
import { refuseAsDataException } from '../support/database.js';

const NOTES_API = 'https://notes.example.test';
const SCOPE = 'openid profile email offline_access notes:read';
const SUBJECT = 'An app was connected to your account';

let smtp: SmtpReceiver;

beforeAll(async () => { smtp = await startSmtpReceiver(); });
afterAll(async () => { await smtp?.close(); });

async function serverWith(env: Record<string, string> = {}): Promise<{ server: TestServer; app: App }> {
  const server = await startTestServer({ SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <id@example.test>', ...env });
  await server.stores.resources.create({
    identifier: NOTES_API, name: 'Notes', scope: 'notes:read notes:write', isDefault: true,
    scopeDescriptions: { 'notes:read': 'Read your notes' },
  });
  return { server, app: await registerApp(server, { scope: SCOPE }) };
}

async function noticesTo(server: TestServer, address: string) {
  await server.deliveries.sender.deliverDue();
  return mailsTo(smtp.received, address).filter((mail) => subjectOf(mail) === SUBJECT);
}

describe('with EMAIL_NOTIFICATIONS on (the default)', () => {
  let server: TestServer;
  let app: App;
  beforeAll(async () => { ({ server, app } = await serverWith()); });
  afterAll(async () => { await server?.stop(); });

  it('mails once when a person connects a new app, and not when they consent to it again', async () => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: SCOPE });
    const [notice, ...more] = await noticesTo(server, person.email);
    expect(more).toEqual([]);
    const text = partOf(notice!, 'text/plain');
    expect(text).toContain('You allowed Example App to use your account.');
    for (const words of ['Confirm who you are when you sign in', 'See your name', 'See your email address and whether it is verified', 'Keep access while you are not using it, until you revoke it', 'In Notes:', 'Read your notes']) {
      expect(text).toContain(words);
    }
    expect(text).toContain(`${server.issuer}/account/apps`);
    expect(partOf(notice!, 'text/html')).toContain(`href="${server.issuer}/account/apps"`);

    // Another browser, consent asked again (prompt=consent): the app was already connected.
    await obtainTokens(server, app, person, { scope: SCOPE });
    await obtainTokens(server, app, person, { scope: 'openid email' });
    expect(await noticesTo(server, person.email)).toHaveLength(1);
    // Every consent is still audited.
    await server.audit.flush();
    expect(await server.testDb.db('audit_events').where({ user_id: person.id, type: 'consent.given' })).toHaveLength(3);
  });

  it('mails again when an app removed from the account is connected again', async () => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: SCOPE });
    await server.selfService.revokeConnectedApp({ type: 'user', id: person.id }, app.clientId);
    await obtainTokens(server, app, person, { scope: SCOPE });
    expect(await noticesTo(server, person.email)).toHaveLength(2);
  });

  it('keeps no consent it could not record: the grant goes, nothing is mailed, and the next sign-in asks again', async () => {
    const person = await createPerson(server);
    const unrefuse = await refuseAsDataException(server.testDb.db, {
      name: 'refuse_consent_record', table: 'audit_events', event: 'insert', when: `new.type = 'consent.given' and new.user_id = '${person.id}'`, quoted: 'consent',
    });
    try {
      const agent = new UserAgent(server.issuer);
      let page = await agent.follow(String((await authorizationRequest(app, { scope: SCOPE })).url));
      const login = formOf(page.body, /\/login$/);
      page = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
      const consent = formOf(page.body, /\/confirm$/);
      const refused = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
      expect(refused.leftTo).toBeUndefined();
      expect(refused.status).toBeGreaterThanOrEqual(400);
    } finally {
      await unrefuse();
    }
    expect(await server.testDb.db('oidc_records').where({ model: 'Grant', account_id: person.id })).toEqual([]);
    expect(await noticesTo(server, person.email)).toEqual([]);
    // Another browser, later: asked again, and this time it stands.
    const again = new UserAgent(server.issuer);
    let page = await again.follow(String((await authorizationRequest(app, { scope: SCOPE })).url));
    const login = formOf(page.body, /\/login$/);
    page = await again.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    expect(page.body).toContain('name="decision"');
  });

  it('puts an existing grant back as it was when the added consent cannot be recorded', async () => {
    const person = await createPerson(server);
    await obtainTokens(server, app, person, { scope: 'openid' });
    const grantScopes = async () => {
      const rows = await server.testDb.db('oidc_records').where({ model: 'Grant', account_id: person.id }).select('payload');
      return rows.map((row: { payload: { openid?: { scope?: string } } }) => row.payload.openid?.scope);
    };
    expect(await grantScopes()).toEqual(['openid']);
    const unrefuse = await refuseAsDataException(server.testDb.db, {
      name: 'refuse_more_consent', table: 'audit_events', event: 'insert', when: `new.type = 'consent.given' and new.user_id = '${person.id}'`, quoted: 'consent',
    });
    try {
      const agent = new UserAgent(server.issuer);
      let page = await agent.follow(String((await authorizationRequest(app, { scope: 'openid profile email' })).url));
      const login = formOf(page.body, /\/login$/);
      page = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
      const consent = formOf(page.body, /\/confirm$/);
      const refused = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision: 'allow' } });
      expect(refused.leftTo).toBeUndefined();
    } finally {
      await unrefuse();
    }
    // Remembered consent gave this sign-in a grant of its own, holding what was allowed before:
    // it keeps exactly that, and nothing the unrecorded page added.
    expect(new Set(await grantScopes())).toEqual(new Set(['openid']));
  });

  it('sends nothing for a denied request', async () => {
    const person = await createPerson(server);
    const callback = await signIn(new UserAgent(server.issuer), (await authorizationRequest(app, { scope: SCOPE })).url, person, 'deny');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(await noticesTo(server, person.email)).toEqual([]);
  });
});

describe('with EMAIL_NOTIFICATIONS=false', () => {
  it('connects the app and sends no notice', async () => {
    const { server, app } = await serverWith({ EMAIL_NOTIFICATIONS: 'false' });
    try {
      const person = await createPerson(server);
      const { tokens } = await obtainTokens(server, app, person, { scope: SCOPE });
      expect(tokens.access_token).toBeTruthy();
      expect(await noticesTo(server, person.email)).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
