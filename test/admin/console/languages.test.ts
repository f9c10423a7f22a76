// The console speaks the admin's language like every other page: Accept-Language, then
// DEFAULT_LOCALE. An admin whose browser asks for German reads the people list, an app's page and
// the audit log in German, while names and addresses typed by admins are shown as typed, escaped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson, registerApp } from '../../support/flows.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import type { UserAgent } from '../../support/user-agent.js';
import { createAdmin, signInToConsole, textOf } from './support.js';

let server: TestServer;
let agent: UserAgent;

const GERMAN = { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' };

beforeAll(async () => {
  server = await startTestServer();
  const admin = await createAdmin(server);
  ({ agent } = await signInToConsole(server, admin));
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
