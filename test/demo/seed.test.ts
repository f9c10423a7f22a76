import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/people/passwords.js';
import { UserStore } from '../../src/people/users.js';
import { ClientStore } from '../../src/clients/store.js';
import { loadConfig } from '../../src/config.js';
import { DEMO_API, DEMO_EMAIL, demoDatabaseKey, demoDataProblems, demoFile, readDemoDetails, seedDemo } from '../../src/demo/seed.js';
import { ResourceServerStore } from '../../src/resources/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
let dataDir: string;
let stores: { users: UserStore; clients: ClientStore; resources: ResourceServerStore };

beforeAll(async () => {
  testDb = await createTestDatabase();
  dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-seed-'));
  stores = {
    users: new UserStore(testDb.db, new PasswordHasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1 })),
    clients: new ClientStore(testDb.db),
    resources: new ResourceServerStore(testDb.db),
  };
});

afterAll(async () => {
  await testDb?.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the development demo', () => {
  it('seeds a person, an app and an API once, without taking the default from an API registered earlier', async () => {
    await stores.resources.create({ identifier: 'https://mine.example.test', scope: 'mine:read', isDefault: true });
    const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });

    const seeded = await seedDemo(config, stores);
    expect(seeded).toMatchObject({ email: DEMO_EMAIL, api: DEMO_API });
    expect(readDemoDetails(config)).toEqual(seeded);
    expect(await stores.users.authenticate(DEMO_EMAIL, seeded!.password)).toMatchObject({ ok: true });
    expect((await stores.resources.findDefault())?.identifier).toBe('https://mine.example.test');

    expect(await seedDemo(config, stores)).toBeUndefined();
  });

  it('is never seeded in production, and its data is named as a reason to refuse a production start', async () => {
    const production = loadConfig({
      NODE_ENV: 'production', DATA_DIR: dataDir, DATABASE_URL: 'postgres://db.internal/gatehouse', ISSUER: 'https://id.example.test', TRUST_PROXY: 'true',
      SMTP_URL: 'smtp://relay.internal:25', MAIL_FROM: 'id@example.test',
      COOKIE_KEYS: 'k'.repeat(40), KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    });
    expect(await seedDemo(production, stores)).toBeUndefined();
    const problems = await demoDataProblems(stores);
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toContain(DEMO_EMAIL);
    expect(problems.join('\n')).toContain(DEMO_API);
  });

  it('keeps details by database: another database reads none, and a file from before is claimed only by its own', async () => {
    const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
    const seeded = readDemoDetails(config)!;
    const elsewhere = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, DATABASE_URL: 'postgres://app:secret@DB.internal/other' });
    expect(readDemoDetails(elsewhere)).toBeUndefined();
    expect(demoDatabaseKey(elsewhere)).toBe('postgresql://app@db.internal:5432/other'); // never the password

    // demo.json as it was written before: one database's details, not saying which.
    writeFileSync(demoFile(config), JSON.stringify({ clientId: seeded.clientId, redirectUri: seeded.redirectUris[0], email: seeded.email, password: seeded.password, api: seeded.api }));
    expect(readDemoDetails(config)).toBeUndefined();
    const wrongPassword = JSON.parse(readFileSync(demoFile(config), 'utf8')) as Record<string, string>;
    writeFileSync(demoFile(config), JSON.stringify({ ...wrongPassword, password: 'not-the-password' }));
    expect(await seedDemo(config, stores)).toBeUndefined(); // the demo person exists: nothing new is made
    expect(readDemoDetails(config)).toBeUndefined(); // and a password that does not sign in is not claimed

    writeFileSync(demoFile(config), JSON.stringify(wrongPassword));
    expect(await seedDemo(config, stores)).toBeUndefined();
    expect(readDemoDetails(config)).toEqual(seeded);
    expect(JSON.parse(readFileSync(demoFile(config), 'utf8'))).toEqual({ databases: { [demoDatabaseKey(config)]: seeded } });
  });
});
