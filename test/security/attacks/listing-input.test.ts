// Crafted page cursors and filters on every listing of every surface: impossible dates that
// JavaScript's Date.parse accepts but PostgreSQL refuses (30 February, 24:00, year 0), huge
// numbers, and JSON of the wrong shape or type. Each is a 4xx with the surface's own kind of
// answer (JSON for the admin API, a page for the console and the account pages), never a 500.
// The target and the helpers are in ./target.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInToAccount } from '../../account/support.js';
import { adminApi, type AdminApiClient } from '../../admin/api/support.js';
import { createAdmin, signInToConsole } from '../../admin/console/support.js';
import { obtainTokens } from '../../support/flows.js';
import type { TestServer } from '../../support/gatehouse.js';
import type { UserAgent, Response } from '../../support/user-agent.js';
import { DATABASE_ERROR, expectErrorPage, startAttackTarget, type AttackTarget } from './target.js';

let target: AttackTarget;
let server: TestServer;
let api: AdminApiClient;
let admin: UserAgent;
let account: UserAgent;

const encode = (parts: unknown) => Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
const VALID_INSTANT = '2026-01-01T00:00:00.000000Z';

/** Instants shaped like the ones cursors carry, that Date.parse takes and PostgreSQL does not. */
const IMPOSSIBLE_INSTANTS = [
  '2026-02-30T00:00:00.000000Z',
  '2026-02-31T23:59:59.999999Z',
  '2025-02-29T12:00:00.000000Z', // not a leap year
  '2026-04-31T00:00:00.000000Z',
  '2026-01-01T24:00:00.000000Z',
  '0000-01-01T00:00:00.000000Z',
];

/** Cursors no listing ever hands out, around a second part that would otherwise pass (`id`). */
function craftedCursors(id: string): Array<[string, string]> {
  return [
    ...IMPOSSIBLE_INSTANTS.map((at): [string, string] => [`the impossible instant ${at}`, encode([at, id])]),
    ['a number for the instant', encode([1767225600000, id])],
    ['a huge number for the id', encode([VALID_INSTANT, 1e308])],
    ['an id of 1001 characters', encode([VALID_INSTANT, '9'.repeat(1001)])],
    ['nulls', encode([null, null])],
    ['an object', encode({ at: VALID_INSTANT, id })],
    ['a bare string', encode(VALID_INSTANT)],
    ['a bare number', encode(1e308)],
    ['three parts', encode([VALID_INSTANT, id, id])],
    ['nested arrays', encode([[VALID_INSTANT], [id]])],
    ['not base64url', '%%%'],
  ];
}

const SOME_UUID = '00000000-0000-4000-8000-000000000000';

beforeAll(async () => {
  target = await startAttackTarget();
  ({ server } = target);
  api = await adminApi(server);
  ({ agent: admin } = await signInToConsole(server, await createAdmin(server)));
  // Something on every list, so a cursor that slipped through would reach a real query plan.
  await obtainTokens(server, target.app, target.person);
  ({ agent: account } = await signInToAccount(server, target.person));
}, 60_000);

afterAll(async () => { await target?.stop(); });

function expectNoInternals(label: string, body: string): void {
  expect(body, label).not.toMatch(DATABASE_ERROR);
  expect(body, label).not.toMatch(/\n\s+at \S|node_modules/);
}

describe('the admin API', () => {
  const listings = () => [
    ['/users', SOME_UUID], [`/users/${target.person.id}/sessions`, 'handle'], [`/users/${target.person.id}/grants`, 'digest'],
    ['/clients', 'client'], [`/clients/${target.app.clientId}/grants`, 'digest'], ['/apis', 'https://x.example.test'], ['/audit-events', '1'],
  ] as const;

  it('every listing answers a crafted cursor with 400 invalid_request about the cursor', async () => {
    for (const [path, id] of listings()) {
      for (const [name, cursor] of craftedCursors(id)) {
        const res = await api.get(`${path}?cursor=${encodeURIComponent(cursor)}`);
        expect(res.status, `${path}, ${name}: ${res.text.slice(0, 200)}`).toBe(400);
        expect(res.body, `${path}, ${name}`).toMatchObject({ error: 'invalid_request', field: 'cursor' });
        expectNoInternals(`${path}, ${name}`, res.text);
      }
    }
  });

  it('every listing answers huge, fractional, negative and repeated limits and cursors with 400', async () => {
    const queries = ['limit=1e400', 'limit=99999999999999999999999', 'limit=-1', 'limit=1.5', 'limit=NaN', 'limit=abc', 'limit=1&limit=2', `cursor=${encode([VALID_INSTANT, 'x'])}&cursor=x`];
    for (const [path] of listings()) {
      for (const query of queries) {
        const res = await api.get(`${path}?${query}`);
        expect(res.status, `${path}?${query}: ${res.text.slice(0, 200)}`).toBe(400);
        expect(res.body.error).toBe('invalid_request');
      }
    }
  });

  it('the audit log answers impossible and out-of-range times with 400', async () => {
    for (const at of ['2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z', '0000-01-01T00:00:00Z', '275760-09-14T00:00:00Z', '99999-01-01T00:00:00Z', '2026-01-01']) {
      for (const name of ['since', 'until']) {
        const res = await api.get(`/audit-events?${name}=${encodeURIComponent(at)}`);
        expect([200, 400], `${name}=${at}: ${res.text.slice(0, 200)}`).toContain(res.status);
        expectNoInternals(`${name}=${at}`, res.text);
      }
    }
  });
});

describe('the admin console', () => {
  /** The six listings and the cursor parameter each takes, with a second part that passes. */
  const listings = () => [
    ['/admin/people?cursor=', SOME_UUID], ['/admin/apps?cursor=', 'client'], ['/admin/apis?cursor=', 'https://x.example.test'],
    ['/admin/audit?cursor=', '1'], [`/admin/people/${target.person.id}?sessions=`, 'handle'], [`/admin/people/${target.person.id}?grants=`, 'digest'],
    [`/admin/apps/${target.app.clientId}?grants=`, 'digest'],
  ] as const;

  it('every listing answers a crafted cursor with a 400 console page', async () => {
    for (const [path, id] of listings()) {
      for (const [name, cursor] of craftedCursors(id)) {
        const res: Response = await admin.request(`${server.issuer}${path}${encodeURIComponent(cursor)}`);
        expectErrorPage(res, 400);
        expect(res.body, `${path}, ${name}`).toContain('The cursor is not one this API returned.');
        expectNoInternals(`${path}, ${name}`, res.body);
      }
    }
  });

  it('the audit log answers impossible dates in its filters with a 400 console page', async () => {
    for (const day of ['2026-02-30', '2025-02-29', '2026-13-01', '2026-01-01T24:00', '99999-01-01', '-2026-01-01']) {
      for (const name of ['since', 'until']) {
        const res = await admin.request(`${server.issuer}/admin/audit?${name}=${encodeURIComponent(day)}`);
        expectErrorPage(res, 400);
        expectNoInternals(`${name}=${day}`, res.body);
      }
    }
  });

  it('year 1 and the first day of the calendar are read as dates, not refused by the database', async () => {
    for (const day of ['0000-01-01', '0001-01-01']) {
      const res = await admin.request(`${server.issuer}/admin/audit?until=${day}`);
      expect([200, 400], `${day}: ${res.body.slice(0, 300)}`).toContain(res.status);
      expectNoInternals(day, res.body);
    }
  });
});

describe('the account pages', () => {
  it('Active sessions answers a crafted cursor with a friendly 400 page', async () => {
    for (const [name, cursor] of craftedCursors('handle')) {
      const res = await account.request(`${server.issuer}/account/sessions?cursor=${encodeURIComponent(cursor)}`);
      expectErrorPage(res, 400);
      expect(res.body, name).toContain('This list cannot be shown');
      expectNoInternals(name, res.body);
    }
  });

  it('Connected apps (a cursor of two names) answers one of the wrong shape with a friendly 400 page', async () => {
    for (const [name, cursor] of craftedCursors('client')) {
      const res = await account.request(`${server.issuer}/account/apps?cursor=${encodeURIComponent(cursor)}`);
      // An impossible date is still a name a cursor could carry: an empty page, not an error.
      if (name.startsWith('the impossible instant')) expect(res.status, name).toBe(200);
      else expectErrorPage(res, 400);
      expectNoInternals(name, res.body);
    }
  });
});
