// Development only: on the first start, a person, an app and an API to try Gatehouse with.
// The demo app's details are kept in the data directory for `gatehouse demo`.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { UserStore } from '../accounts/users.js';
import type { ClientStore } from '../clients/store.js';
import type { Config } from '../config.js';
import type { ResourceServerStore } from '../resources/store.js';

export const DEMO_PORT = 3001;
export const DEMO_EMAIL = 'demo@gatehouse.test';
export const DEMO_API = 'https://api.demo.gatehouse.test';
/** The demo API scope the demo app is registered for and asks for. */
export const DEMO_API_SCOPE = 'notes:read';

export interface DemoDetails {
  clientId: string;
  redirectUri: string;
  email: string;
  password: string;
  api: string;
}

export function demoFile(config: Config): string {
  return path.join(config.dataDir, 'demo.json');
}

export function readDemoDetails(config: Config): DemoDetails | undefined {
  const file = demoFile(config);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DemoDetails) : undefined;
}

/**
 * The demo person has a password printed in a terminal and the demo API may be the default: a
 * production server refuses to run on a database that holds them (one used for development).
 */
export async function demoDataProblems(stores: { users: UserStore; resources: ResourceServerStore }): Promise<string[]> {
  const problems: string[] = [];
  if (await stores.users.findByEmail(DEMO_EMAIL)) problems.push(`the database holds the development demo person ${DEMO_EMAIL}; delete that account`);
  if (await stores.resources.find(DEMO_API)) problems.push(`the database holds the development demo API ${DEMO_API}; delete it (and its introspection client)`);
  return problems;
}

/** Creates the demo person, app and API unless they exist; returns them when just created. */
export async function seedDemo(
  config: Config,
  stores: { users: UserStore; clients: ClientStore; resources: ResourceServerStore },
): Promise<DemoDetails | undefined> {
  if (config.env === 'production' || !config.demo) return undefined;
  const known = readDemoDetails(config);
  if (known && (await stores.clients.find(known.clientId)) && (await stores.users.findByEmail(known.email))) return undefined;

  const password = `demo-${randomBytes(9).toString('base64url')}`;
  const existing = await stores.users.findByEmail(DEMO_EMAIL);
  if (existing) return undefined; // someone else's data: do not touch it
  await stores.users.create({ email: DEMO_EMAIL, name: 'Demo Person', givenName: 'Demo', familyName: 'Person', emailVerified: true, password });

  if (!(await stores.resources.find(DEMO_API))) {
    await stores.resources.create({
      identifier: DEMO_API,
      name: 'Demo Notes API',
      scope: 'notes:read notes:write',
      scopeDescriptions: { 'notes:read': 'Read your notes', 'notes:write': 'Create and change your notes' },
      // Never take the default from an API someone registered before the first start.
      isDefault: !(await stores.resources.findDefault()),
    });
  }
  const redirectUri = `http://localhost:${DEMO_PORT}/callback`;
  const { client } = await stores.clients.create({
    name: 'Gatehouse Demo App',
    redirectUris: [redirectUri],
    postLogoutRedirectUris: [`http://localhost:${DEMO_PORT}/`],
    public: true,
    scope: `openid profile email offline_access ${DEMO_API_SCOPE}`,
  });
  const details: DemoDetails = { clientId: client.clientId, redirectUri, email: DEMO_EMAIL, password, api: DEMO_API };
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(demoFile(config), `${JSON.stringify(details, null, 2)}\n`, { mode: 0o600 });
  return details;
}
