// Development only: on the first start, a person, an app and an API to try Gatehouse with.
// The demo app's details are kept in the data directory for `gatehouse demo`.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { UserStore } from '../people/users.js';
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
  /** Where the demo app may run: one callback per port it was registered for. */
  redirectUris: string[];
  email: string;
  password: string;
  api: string;
}

/**
 * demo.json holds the demo details of every database this data directory's Gatehouse seeded, by
 * database: the embedded one and each PostgreSQL database have their own person, password and app,
 * and a command must never print another database's. `unclaimed` is a file from before the details
 * were kept by database: the server hands it to the database it turns out to belong to.
 */
interface DemoFile {
  databases: Record<string, DemoDetails>;
  unclaimed?: DemoDetails;
}

export function demoFile(config: Config): string {
  return path.join(config.dataDir, 'demo.json');
}

export function demoRedirectUri(port: number): string {
  return `http://localhost:${port}/callback`;
}

/** Where the demo app on `port` takes logout tokens (src/demo/app.ts, DEMO_BACKCHANNEL_LOGOUT_PATH). */
export function demoBackchannelLogoutUri(port: number): string {
  return `http://localhost:${port}/backchannel-logout`;
}

/** Which database the configuration talks to, as demo.json names it (never with a password). */
export function demoDatabaseKey(config: Pick<Config, 'databaseUrl'>): string {
  if (!config.databaseUrl) return 'embedded';
  const url = new URL(config.databaseUrl);
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  return `postgresql://${user}${url.hostname.toLowerCase()}:${url.port || '5432'}${url.pathname}`;
}

function upgrade(details: DemoDetails & { redirectUri?: string }): DemoDetails {
  const { redirectUri, ...rest } = details;
  return { ...rest, redirectUris: rest.redirectUris ?? (redirectUri ? [redirectUri] : []) };
}

function readDemoFile(config: Config): DemoFile {
  const file = demoFile(config);
  if (!existsSync(file)) return { databases: {} };
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<DemoFile> & { clientId?: string };
  if (typeof parsed.clientId === 'string') return { databases: {}, unclaimed: upgrade(parsed as DemoDetails) };
  return { databases: parsed.databases ?? {}, ...(parsed.unclaimed ? { unclaimed: parsed.unclaimed } : {}) };
}

function writeDemoFile(config: Config, content: DemoFile): void {
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(demoFile(config), `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
}

/** The demo details of the database `config` talks to; undefined if it has none on record. */
export function readDemoDetails(config: Config): DemoDetails | undefined {
  const details = readDemoFile(config).databases[demoDatabaseKey(config)];
  return details ? upgrade(details) : undefined;
}

/** Whether demo.json holds details from before they were kept by database, not yet matched to one. */
export function hasUnclaimedDemoDetails(config: Config): boolean {
  return readDemoFile(config).unclaimed !== undefined;
}

/** Records the details of the database `config` talks to, leaving every other database's as they are. */
export function saveDemoDetails(config: Config, details: DemoDetails): void {
  const content = readDemoFile(config);
  content.databases[demoDatabaseKey(config)] = details;
  writeDemoFile(config, content);
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
  if (await claimUnclaimed(config, stores)) return undefined;

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
  const redirectUri = demoRedirectUri(DEMO_PORT);
  const { client } = await stores.clients.create({
    name: 'Gatehouse Demo App',
    redirectUris: [redirectUri],
    postLogoutRedirectUris: [`http://localhost:${DEMO_PORT}/`],
    // Signing out at Gatehouse (or an admin ending the session) ends the demo's session too.
    backchannelLogoutUri: demoBackchannelLogoutUri(DEMO_PORT),
    public: true,
    scope: `openid profile email offline_access ${DEMO_API_SCOPE}`,
  });
  const details: DemoDetails = { clientId: client.clientId, redirectUris: [redirectUri], email: DEMO_EMAIL, password, api: DEMO_API };
  saveDemoDetails(config, details);
  return details;
}

/**
 * A demo.json from before details were kept by database names no database: it is this one's if this
 * database has its app and its person's password is the one on record.
 */
async function claimUnclaimed(config: Config, stores: { users: UserStore; clients: ClientStore }): Promise<boolean> {
  const content = readDemoFile(config);
  const candidate = content.unclaimed;
  if (!candidate || !(await stores.clients.find(candidate.clientId))) return false;
  if (!(await stores.users.authenticate(candidate.email, candidate.password)).ok) return false;
  content.databases[demoDatabaseKey(config)] = candidate;
  delete content.unclaimed;
  writeDemoFile(config, content);
  return true;
}
