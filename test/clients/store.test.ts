import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientStore, newClientId, type Client } from '../../src/clients/store.js';
import { ADMIN_SCOPE } from '../../src/vocabulary.js';
import { digest } from '../../src/crypto/digest.js';
import { isGatehouseError } from '../../src/errors.js';
import { translator } from '../../src/i18n/catalogs.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertGrant, modelsOf } from '../support/oidc-records.js';

let testDb: TestDatabase;
let clients: ClientStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  clients = new ClientStore(testDb.db);
});

afterAll(async () => {
  await testDb?.destroy();
});

const invalid = (field: string) => (e: unknown) => isGatehouseError(e, 'invalid_input') && e.field === field;

describe('registering apps', () => {
  it('requires the openid scope of an app that signs people in', async () => {
    await expect(clients.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], scope: 'notes:read' })).rejects.toSatisfy(invalid('scope'));
  });

  it('accepts https, loopback http and private-use schemes only, without fragments, credentials or control characters', async () => {
    for (const uri of ['http://a.example.test/cb', 'https://a.example.test/cb#x', 'https://user:pw@a.example.test/cb', 'https://a.example.test/c\u0000b', 'javascript:alert(1)', 'not a url']) {
      await expect(clients.create({ name: 'A', redirectUris: [uri] }), uri).rejects.toSatisfy(invalid('redirectUris'));
    }
    for (const uri of ['https://a.example.test/cb', 'http://localhost:8080/cb', 'http://127.0.0.1/cb']) {
      await expect(clients.create({ name: 'A', redirectUris: [uri] }), uri).resolves.toBeDefined();
    }
  });

  it('takes a back-channel logout URI that is absolute, http(s) and without a fragment; https only in production', async () => {
    for (const uri of ['/logout', 'https://a.example.test/logout#x', 'https://user:pw@a.example.test/logout', 'ftp://a.example.test/logout', 'not a url']) {
      await expect(clients.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], backchannelLogoutUri: uri }), uri).rejects.toSatisfy(invalid('backchannelLogoutUri'));
    }
    const { client: development } = await clients.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], backchannelLogoutUri: 'http://app.internal.test/logout?from=gatehouse' });
    expect(development).toMatchObject({ backchannelLogoutUri: 'http://app.internal.test/logout?from=gatehouse', backchannelLogoutSessionRequired: false });

    const production = new ClientStore(testDb.db, undefined, { httpsOnly: true });
    await expect(production.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], backchannelLogoutUri: 'http://localhost:3001/logout' })).rejects.toSatisfy(invalid('backchannelLogoutUri'));
    await expect(production.update(development.clientId, { name: 'Renamed' })).rejects.toSatisfy(invalid('backchannelLogoutUri'));
    const { client } = await production.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], backchannelLogoutUri: 'https://a.example.test/logout', backchannelLogoutSessionRequired: true });
    expect(await production.logoutReceivers([client.clientId, development.clientId, 'unknown'])).toEqual(expect.arrayContaining([
      { clientId: client.clientId, uri: 'https://a.example.test/logout', sessionRequired: true },
      { clientId: development.clientId, uri: 'http://app.internal.test/logout?from=gatehouse', sessionRequired: false },
    ]));
    await production.setDisabled(client.clientId, true);
    expect((await production.logoutReceivers([client.clientId])).length).toBe(0);
    // The pages the consent page links to are https in production too; plain http is for development.
    await expect(production.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], policyUri: 'http://a.example.test/privacy' })).rejects.toSatisfy(invalid('policyUri'));
    expect((await clients.create({ name: 'A', redirectUris: ['https://a.example.test/cb'], policyUri: 'http://a.example.test/privacy' })).client.policyUri).toBe('http://a.example.test/privacy');
  });

  it('refuses in English for the CLI and the admin API, and in the console\'s language for its pages', async () => {
    const said = async (attempt: Promise<unknown>) => {
      const error = await attempt.then(() => { throw new Error('accepted'); }, (e: unknown) => e);
      if (!isGatehouseError(error) || !error.words) throw error;
      return { message: error.message, de: translator('de').t(error.words), en: translator('en').t(error.words) };
    };
    expect(await said(clients.create({ name: 'A', redirectUris: ['https://a.example.test/cb#x'] }))).toEqual({
      message: '"https://a.example.test/cb#x" must not contain a fragment',
      de: '„https://a.example.test/cb#x“ darf kein Fragment enthalten.',
      en: '"https://a.example.test/cb#x" must not contain a fragment.',
    });
    // zod's own English stays for the CLI; a page names the field by the console's label.
    expect(await said(clients.create({ name: 'A'.repeat(201), redirectUris: ['https://a.example.test/cb'] }))).toEqual({
      message: 'Too big: expected string to have <=200 characters',
      de: '„Name“ ist zu lang: höchstens 200 Zeichen.',
      en: '“Name” is too long: at most 200 characters.',
    });
    expect(await said(clients.create({ name: 'A\u0000', redirectUris: ['https://a.example.test/cb'] }))).toMatchObject({ message: 'must not contain NUL characters or unpaired surrogates', de: '„Name“ darf keine NUL-Zeichen und keine ungepaarten Surrogate enthalten.' });
    expect(await said(clients.create({ name: ' ', redirectUris: ['https://a.example.test/cb'] }))).toMatchObject({ message: 'A client name is required.', de: 'Bitte geben Sie einen Namen ein.' });
    // The name goes into the consent page and the app-connected mail: one line, read as written.
    for (const name of ['Gatehouse Security\n\nACTION REQUIRED: visit https://evil.example', 'Notes \u202Eppa\u202C', 'Tab\there']) {
      expect(await said(clients.create({ name, redirectUris: ['https://a.example.test/cb'] })), name).toMatchObject({
        message: 'must be one line of plain text, without control characters or direction overrides',
        en: '“Name” must be one line of plain text, without control characters or direction overrides.',
      });
    }
    expect(await said(clients.create({ name: 'A', clientCredentials: true }))).toMatchObject({
      message: 'A machine client needs --scope naming what it may ask for.',
      de: 'Ein Maschinen-Client braucht Scopes, die nennen, was er anfordern darf.',
    });
    expect(await said(clients.create({ name: 'A', redirectUris: Array.from({ length: 21 }, (_, i) => `https://a.example.test/${i}`) }))).toMatchObject({
      de: '„Redirect-URIs“ hat zu viele Einträge: höchstens 20.',
    });
    const { client } = await clients.create({ name: 'A', redirectUris: ['https://a.example.test/cb'] });
    expect(await said(clients.rotateSecret(client.clientId, -1))).toMatchObject({
      message: 'The overlap is a whole number of seconds from 0 to 2592000 (30 days).',
      de: 'Wie lange das aktuelle Geheimnis weiter funktioniert, ist eine ganze Zahl von Sekunden zwischen 0 und 2592000 (30 Tage).',
    });
  });

  it('gives confidential apps a secret stored only as a digest, public apps none', async () => {
    const confidential = await clients.create({ name: 'C', redirectUris: ['https://c.example.test/cb'] });
    expect(confidential.clientSecret).toMatch(/^[\w-]{43}$/);
    const row = await testDb.db('clients').where({ client_id: confidential.client.clientId }).first();
    expect(JSON.stringify(row)).not.toContain(confidential.clientSecret);
    const pub = await clients.create({ name: 'P', redirectUris: ['https://p.example.test/cb'], public: true });
    expect(pub.clientSecret).toBeUndefined();
    expect(pub.client.tokenEndpointAuthMethod).toBe('none');
  });

  it('refuses private key material in a private_key_jwt client\'s key set', async () => {
    await expect(clients.create({
      name: 'K', clientCredentials: true, scope: 'x:read', tokenEndpointAuthMethod: 'private_key_jwt',
      jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'secret' }] },
    })).rejects.toSatisfy(invalid('jwks'));
  });

  it('answers a lookup by a client_id no database could hold with nothing', async () => {
    expect(await clients.find('a\u0000b')).toBeUndefined();
    expect(await clients.find('x'.repeat(1000))).toBeUndefined();
  });
});

describe('client ids', () => {
  it('are unguessable, URL-safe, and never start with "-", which a command line would read as an option', () => {
    // One id in 64 would start so if nothing prevented it: a thousand leave no room for chance.
    const ids = Array.from({ length: 1000 }, () => newClientId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});

describe('administering clients', () => {
  const app = () => clients.create({ name: 'App', redirectUris: ['https://app.example.test/cb'] });

  it('gives an admin client the admin scope, needing no other, and refuses the admin scope to anyone else', async () => {
    const { client } = await clients.create({ name: 'Automation', clientCredentials: true, admin: true });
    expect(client.scope).toBe(ADMIN_SCOPE);
    expect((await clients.create({ name: 'Ops', clientCredentials: true, admin: true, scope: 'reports:read' })).client.scope).toBe(`reports:read ${ADMIN_SCOPE}`);
    await expect(clients.create({ name: 'Sneaky', clientCredentials: true, scope: `reports:read ${ADMIN_SCOPE}` })).rejects.toSatisfy(invalid('scope'));
    await expect(clients.create({ name: 'Sneaky', redirectUris: ['https://s.example.test/cb'], scope: `openid ${ADMIN_SCOPE}` })).rejects.toSatisfy(invalid('scope'));
    // An admin client keeps its admin scope through an update; others cannot gain it.
    expect((await clients.update(client.clientId, { scope: 'reports:read' }))?.scope).toBe(`reports:read ${ADMIN_SCOPE}`);
    const { client: machine } = await clients.create({ name: 'M', clientCredentials: true, scope: 'reports:read' });
    await expect(clients.update(machine.clientId, { scope: ADMIN_SCOPE })).rejects.toSatisfy(invalid('scope'));
  });

  it('updates a client as strictly as it was registered', async () => {
    const { client } = await app();
    const updated = await clients.update(client.clientId, { name: 'Renamed', redirectUris: ['https://new.example.test/cb'], scope: 'openid email' });
    expect(updated).toMatchObject({ name: 'Renamed', redirectUris: ['https://new.example.test/cb'], scope: 'openid email', tokenEndpointAuthMethod: 'client_secret_basic' });
    await expect(clients.update(client.clientId, { scope: 'email' })).rejects.toSatisfy(invalid('scope'));
    await expect(clients.update(client.clientId, { redirectUris: [] })).rejects.toSatisfy(invalid('redirectUris'));
    await expect(clients.update(client.clientId, { redirectUris: ['http://evil.example.test/cb'] })).rejects.toSatisfy(invalid('redirectUris'));
    await expect(clients.update(client.clientId, { tokenEndpointAuthMethod: 'none' } as never)).rejects.toSatisfy((e) => isGatehouseError(e, 'invalid_input'));
    expect(await clients.update('no-such-client', { name: 'X' })).toBeUndefined();
  });

  it('rotates a secret, keeping the old one for the overlap only, and only for clients with a secret', async () => {
    const { client, clientSecret } = await app();
    const rotated = await clients.rotateSecret(client.clientId, 3600);
    const after = await clients.find(client.clientId);
    expect(after?.secretDigest).toBe(digest(rotated!.clientSecret));
    expect(after?.previousSecretDigest).toBe(digest(clientSecret!));
    expect(Math.abs(rotated!.previousSecretExpiresAt!.getTime() - (Date.now() + 3600_000))).toBeLessThan(10_000);
    expect(after?.previousSecretExpiresAt).toEqual(rotated!.previousSecretExpiresAt);

    const cut = await clients.rotateSecret(client.clientId, 0);
    expect(cut?.previousSecretExpiresAt).toBeNull();
    expect((await clients.find(client.clientId))?.previousSecretDigest).toBeUndefined();

    await expect(clients.rotateSecret(client.clientId, 31 * 86_400)).rejects.toSatisfy(invalid('overlapSeconds'));
    await expect(clients.rotateSecret(client.clientId, 1.5)).rejects.toSatisfy(invalid('overlapSeconds'));
    const pub = await clients.create({ name: 'P', redirectUris: ['https://p.example.test/cb'], public: true });
    await expect(clients.rotateSecret(pub.client.clientId)).rejects.toSatisfy((e) => isGatehouseError(e, 'conflict'));
    expect(await clients.rotateSecret('no-such-client')).toBeUndefined();
  });

  it('disables and enables a client, and deletes it with every record issued to it', async () => {
    const { client } = await app();
    expect((await clients.setDisabled(client.clientId, true))?.disabledAt).toBeInstanceOf(Date);
    expect((await clients.setDisabled(client.clientId, false))?.disabledAt).toBeNull();
    await insertGrant(testDb.db, { accountId: 'someone', clientId: client.clientId });
    expect(await clients.delete(client.clientId)).toBe(true);
    expect(await clients.find(client.clientId)).toBeUndefined();
    expect(await modelsOf(testDb.db, { client_id: client.clientId })).toEqual([]);
    expect(await clients.delete(client.clientId)).toBe(false);
  });

  it('lists every client once, oldest first, saying which are an API\'s credentials', async () => {
    const { clientId } = await new ResourceServerStore(testDb.db).create({ identifier: 'https://listed.example.test', scope: 'listed:read' });
    const seen: Client[] = [];
    let cursor: string | undefined;
    do {
      const page = await clients.list({ limit: 4, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const count = await testDb.db('clients').count<{ count: number }[]>('* as count');
    expect(seen).toHaveLength(count[0]!.count);
    expect(new Set(seen.map((c) => c.clientId)).size).toBe(seen.length);
    expect(seen.find((c) => c.clientId === clientId)?.resourceIdentifier).toBe('https://listed.example.test');
  });
});
