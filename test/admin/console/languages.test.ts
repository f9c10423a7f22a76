// The console speaks the admin's language like every other page: Accept-Language, then
// DEFAULT_LOCALE. An admin whose browser asks for German reads the people list, an app's page and
// the audit log in German, while names and addresses typed by admins are shown as typed, escaped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, registerApp } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import type { UserAgent } from '../../support/user-agent.js';
import { createAdmin, openForm, signInToConsole, textOf } from './support.js';

let server: TestServer;
let agent: UserAgent;
let csrf: string;

const GERMAN = { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' };

beforeAll(async () => {
  server = await startTestServer();
  const admin = await createAdmin(server);
  ({ agent, csrf } = await signInToConsole(server, admin));
});
afterAll(async () => { await server?.stop(); });

async function page(path: string, headers: Record<string, string> = GERMAN) {
  const res = await agent.request(`${server.issuer}${path}`, { headers });
  expect(res.status, res.body.slice(0, 500)).toBe(200);
  return res;
}

describe('the console in German', () => {
  it('shows the people list in German, with a name typed by an admin escaped', async () => {
    await createPerson(server, { name: 'Zoë <b>Quelle</b>' });
    const res = await page('/admin/people');
    expect(res.body).toContain('<html lang="de">');
    expect(res.body).toContain('<title>Personen · Gatehouse-Administration</title>');
    const text = textOf(res.body);
    expect(text).toContain('Person hinzufügen');
    expect(text).toContain('Signaturschlüssel');
    expect(text).toContain('Prüfprotokoll');
    expect(text).toContain('Abmelden');
    expect(text).toContain('Aktiv');
    expect(text).not.toContain('Add a person');
    expect(res.body).toContain('Zoë &lt;b&gt;Quelle&lt;/b&gt;');
    expect(res.body).not.toContain('<b>Quelle</b>');
  });

  it('shows a person\'s page and the question before deleting them in German', async () => {
    const person = await createPerson(server, { name: 'Grete Muster' });
    const text = textOf((await page(`/admin/people/${person.id}`)).body);
    expect(text).toContain('Sitzungen');
    expect(text).toContain('Nirgends angemeldet.');
    expect(text).toContain('Neues Passwort festlegen');
    expect(text).toContain('Grete Muster deaktivieren');
    const confirm = await page(`/admin/people/${person.id}/delete`);
    expect(confirm.body).toContain('<title>Grete Muster löschen? · Gatehouse-Administration</title>');
    expect(textOf(confirm.body)).toContain('Das kann nicht rückgängig gemacht werden.');
  });

  it('shows an app\'s page in German', async () => {
    const app = await registerApp(server);
    const res = await page(`/admin/apps/${encodeURIComponent(app.clientId)}`);
    const text = textOf(res.body);
    expect(text).toContain('Vertrauliche App');
    expect(text).toContain('Einstellungen');
    expect(text).toContain('Geheimnis von Example App erneuern');
    expect(text).toContain('Niemand hat Example App Zugriff gegeben.');
    expect(text).toContain('Keine: Das alte Geheimnis funktioniert ab sofort nicht mehr');
    expect(text).not.toContain('Settings');
  });

  it('shows the audit log in German, event types included', async () => {
    const res = await page('/admin/audit');
    const text = textOf(res.body);
    expect(res.body).toContain('aria-label="Prüfprotokoll filtern"');
    expect(text).toContain('Alle Ereignisse');
    expect(text).toContain('Hat sich angemeldet');
    expect(text).toContain('Hat eine App registriert (client.created)');
    expect(text).not.toContain('Signed in');
  });

  it('answers in English without Accept-Language (DEFAULT_LOCALE), the same words as before', async () => {
    const res = await page('/admin/people', {});
    expect(res.body).toContain('<html lang="en">');
    expect(textOf(res.body)).toContain('Add a person');
  });

  it('says a refusal in German too', async () => {
    const res = await agent.request(`${server.issuer}/admin/audit?since=31.01.2026`, { headers: GERMAN });
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain('Geben Sie Daten als Jahr-Monat-Tag ein, z. B. 2026-01-31.');
  });
});

/** Submits a console form as a browser asking for German would; the answer, not following a redirect. */
async function submitInGerman(path: string, action: RegExp, fields: Record<string, string>) {
  const form = await openForm(agent, `${server.issuer}${path}`, action);
  return agent.request(form.action, { form: { csrf: form.csrf, ...fields }, headers: GERMAN });
}

describe('refusals in the console, in German', () => {
  it('says why an API form was refused, naming the field by its label for the checks zod words itself', async () => {
    const identifier = 'https://notizen.example.test';
    await server.stores.resources.create({ identifier, name: 'Notizen', scope: 'notizen:read' });
    const page = `/admin/apis/${encodeURIComponent(identifier)}`;
    const edit = { form: 'edit', name: 'Notizen', scopes: 'notizen:read' };
    for (const [accessTokenTtl, words] of [
      ['5', '„Lebensdauer der Access-Tokens in Sekunden“ muss mindestens 30 sein.'],
      ['999999', '„Lebensdauer der Access-Tokens in Sekunden“ darf höchstens 86400 sein.'],
      ['zehn', '„Lebensdauer der Access-Tokens in Sekunden“ muss eine Zahl sein.'],
      ['1.5', '„Lebensdauer der Access-Tokens in Sekunden“ muss eine ganze Zahl sein.'],
    ]) {
      const refused = await submitInGerman(page, /\/edit$/, { ...edit, accessTokenTtl: accessTokenTtl! });
      expect(refused.status).toBe(400);
      expect(textOf(refused.body)).toContain(words);
      expect(textOf(refused.body)).not.toContain('Too small');
    }
    const cleared = await submitInGerman(page, /\/edit$/, { ...edit, name: '  ', accessTokenTtl: '' });
    expect(textOf(cleared.body)).toContain('„Name“ muss ausgefüllt sein.');
    const unknown = await submitInGerman(page, /\/edit$/, { ...edit, accessTokenTtl: '', mayExchangeFor: 'https://nirgends.example.test' });
    expect(textOf(unknown.body)).toContain('https://nirgends.example.test ist keine registrierte API: Registrieren Sie sie zuerst.');
    const oidc = await submitInGerman('/admin/apis/new', /\/admin\/apis$/, { identifier: 'https://oidc.example.test', name: 'OIDC', scopes: 'email' });
    expect(oidc.status).toBe(400);
    expect(textOf(oidc.body)).toContain('openid, profile, email, address, phone und offline_access sind OpenID-Connect-Scopes, keine API-Scopes.');
    const taken = await submitInGerman('/admin/apis/new', /\/admin\/apis$/, { identifier, name: 'Nochmal', scopes: 'anders:read' });
    expect(taken.status).toBe(409);
    expect(textOf(taken.body)).toContain(`Eine API mit der Kennung ${identifier} gibt es bereits.`);
  });

  it('says why an app form was refused, with the typed address shown as text', async () => {
    const uri = 'https://app.example.test/<b>x</b>#jetzt';
    const res = await submitInGerman('/admin/apps/new', /\/admin\/apps$/, { name: 'Fragment', kind: 'confidential', redirectUris: uri });
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain(`„${uri}“ darf kein Fragment enthalten.`);
    expect(res.body).not.toContain('<b>x</b>');
    const machine = await submitInGerman('/admin/apps/new', /\/admin\/apps$/, { name: 'Nachtlauf', kind: 'machine', redirectUris: '', scope: 'gatehouse:admin' });
    expect(textOf(machine.body)).toContain('Nur ein Admin-Client darf den Scope gatehouse:admin haben.');
    const app = await registerApp(server);
    const overlap = await submitInGerman(`/admin/apps/${encodeURIComponent(app.clientId)}`, /\/rotate-secret$/, { overlap: '-1' });
    expect(textOf(overlap.body)).toContain('Wie lange das aktuelle Geheimnis weiter funktioniert, ist eine ganze Zahl von Sekunden zwischen 0 und 2592000 (30 Tage).');
  });

  it('says in German that a session or grant does not exist', async () => {
    const person = await createPerson(server);
    const base = `${server.issuer}/admin/people/${person.id}`;
    const session = await agent.request(`${base}/sessions/keine-sitzung/end`, { form: { csrf }, headers: GERMAN });
    expect(session.status).toBe(404);
    expect(textOf(session.body)).toContain('Diese Sitzung gibt es nicht, oder sie ist bereits beendet.');
    const grants = await agent.request(`${base}/apps/keine-app/revoke`, { form: { csrf }, headers: GERMAN });
    expect(grants.status).toBe(404);
    expect(textOf(grants.body)).toContain('Diese Person hat dieser App keinen Zugriff gegeben.');
  });

  it('asks for days, in German, when a registration token would live too long', async () => {
    const res = await submitInGerman('/admin/registration-tokens', /\/admin\/registration-tokens$/, { scope: 'openid', uses: '1', days: '400' });
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain('Die Tage sind eine ganze Zahl von 1 bis 365.');
    const admin = await submitInGerman('/admin/registration-tokens', /\/admin\/registration-tokens$/, { scope: 'openid gatehouse:admin', uses: '1', days: '7' });
    expect(textOf(admin.body)).toContain('Keine registrierte App darf gatehouse:admin haben.');
  });

  it('names an API\'s introspection credentials in German in the list of apps', async () => {
    await server.stores.resources.create({ identifier: 'https://aufgaben.example.test', name: 'Aufgaben', scope: 'aufgaben:read' });
    const text = textOf((await page('/admin/apps')).body);
    expect(text).toContain('Aufgaben (Introspektion)');
    expect(text).not.toContain('Aufgaben (introspection)');
  });
});
