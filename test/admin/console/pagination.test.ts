// The console's lists page by keyset links ("Next page", "Older …"): walking them from the first
// page shows every row exactly once, in order, with searches and filters kept along the way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { insertGrant, insertSession } from '../../support/oidc-records.js';
import type { UserAgent } from '../../support/user-agent.js';
import { createAdmin, signInToConsole, textOf } from './support.js';

const PEOPLE = 3000;

let server: TestServer;
let agent: UserAgent;

beforeAll(async () => {
  server = await startTestServer();
  const admin = await createAdmin(server, { email: 'zz-admin@example.test' });
  ({ agent } = await signInToConsole(server, admin));
  // Thousands of people in one statement (hashing a password each would take minutes); every
  // third one shares its creation time with two others, so pages also split inside equal times.
  await server.db.raw(`
    insert into users (email, name, password_hash, created_at)
    select format('bulk-%s@example.test', lpad(i::text, 4, '0')), format('Bulk Person %s', i), 'not a usable hash',
           now() - interval '1 day' + (i / 3) * interval '1 millisecond'
    from generate_series(0, ${PEOPLE - 1}) as i`);
}, 120_000);

afterAll(async () => { await server?.stop(); });

function decode(value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"');
}

/** Follows one list's "next" links (in the pager named `pager`) from `path` to the end; returns the rows' texts, page by page. */
async function walk(path: string, row: RegExp, pager: string): Promise<{ pages: string[][]; firstLinks: number }> {
  const pages: string[][] = [];
  let firstLinks = 0;
  let url: string | null = `${server.issuer}${path}`;
  while (url) {
    const res = await agent.request(url);
    expect(res.status, res.body.slice(0, 300)).toBe(200);
    pages.push([...res.body.matchAll(row)].map((m) => decode(m[1]!)));
    const nav = new RegExp(`<nav class="admin-pager" aria-label="${pager}">([\\s\\S]*?)</nav>`).exec(res.body)?.[1] ?? '';
    const next = /<a href="([^"]+)" rel="next">/.exec(nav)?.[1];
    if (/<a href="[^"]+">(?:First page|Newest [a-z]+)<\/a>/.test(nav)) firstLinks += 1;
    url = next ? new URL(decode(next), server.issuer).href : null;
    expect(pages.length).toBeLessThan(200);
  }
  return { pages, firstLinks };
}

describe('People', () => {
  const EMAIL_CELL = /<td>([^<]+@example\.test)<\/td>/g;

  it(`walks ${PEOPLE} people page by page, each once, oldest first`, async () => {
    const expected: string[] = (await server.db('users').select('email').orderBy([{ column: 'created_at' }, { column: 'id' }])).map((r: { email: string }) => r.email);
    const { pages, firstLinks } = await walk('/admin/people', EMAIL_CELL, 'People pages');
    expect(pages).toHaveLength(Math.ceil((PEOPLE + 1) / 50));
    expect(pages.slice(0, -1).every((page) => page.length === 50)).toBe(true);
    expect(pages.flat()).toEqual(expected);
    // Every page after the first links back to it.
    expect(firstLinks).toBe(pages.length - 1);
  });

  it('keeps the search on every page: the people whose email or name starts with it, and no one else', async () => {
    const { pages } = await walk('/admin/people?search=BULK-01', EMAIL_CELL, 'People pages');
    const emails = pages.flat();
    expect(emails).toHaveLength(100);
    expect(emails.every((email) => email.startsWith('bulk-01'))).toBe(true);
    expect(new Set(emails).size).toBe(100);
    const byName = await walk(`/admin/people?search=${encodeURIComponent('bulk person 299')}`, EMAIL_CELL, 'People pages');
    expect(byName.pages.flat().sort()).toEqual(['bulk-0299@example.test', 'bulk-2990@example.test', 'bulk-2991@example.test', 'bulk-2992@example.test', 'bulk-2993@example.test', 'bulk-2994@example.test', 'bulk-2995@example.test', 'bulk-2996@example.test', 'bulk-2997@example.test', 'bulk-2998@example.test', 'bulk-2999@example.test']);
  });

  it('a search that matches no one says so', async () => {
    const res = await agent.request(`${server.issuer}/admin/people?search=nobody-here`);
    expect(res.status).toBe(200);
    expect(textOf(res.body)).toContain('No one’s email or name starts with “nobody-here”.');
    expect(res.body).not.toContain('rel="next"');
  });

  it('takes the pattern characters of a search literally', async () => {
    const res = await agent.request(`${server.issuer}/admin/people?search=${encodeURIComponent('%')}`);
    expect(res.status).toBe(200);
    expect([...res.body.matchAll(EMAIL_CELL)]).toHaveLength(0);
    const underscore = await agent.request(`${server.issuer}/admin/people?search=${encodeURIComponent('bulk_')}`);
    expect([...underscore.body.matchAll(EMAIL_CELL)]).toHaveLength(0);
  });

  it.each([
    ['not base64url at all', '!!!'],
    ['base64url of something else', Buffer.from('["x"]').toString('base64url')],
    ['a cursor of the wrong shape', Buffer.from('["2026-01-01T00:00:00.000000Z","not-a-uuid"]').toString('base64url')],
  ])('a malformed cursor (%s) is a 400 page, not an error', async (_name, cursor) => {
    const res = await agent.request(`${server.issuer}/admin/people?cursor=${encodeURIComponent(cursor)}`);
    expect(res.status).toBe(400);
    expect(textOf(res.body)).toContain('The cursor is not one this API returned.');
  });
});

describe('one person\'s sessions and grants', () => {
  it('page separately, newest first, each link keeping the other list\'s place', async () => {
    const [person] = await server.db('users').select('id').where({ email: 'bulk-0007@example.test' });
    const start = Date.now() - 3_600_000;
    for (let i = 0; i < 120; i += 1) {
      await insertSession(server.db, { accountId: person.id, createdAt: new Date(start + i * 1000), userAgent: `Agent ${String(i).padStart(3, '0')} Firefox/140.0 (X11; Linux x86_64)`, ip: `192.0.2.${i}` });
      await insertGrant(server.db, { accountId: person.id, clientId: `client-${String(i).padStart(3, '0')}`, createdAt: new Date(start + i * 1000) });
    }
    const sessions = await walk(`/admin/people/${person.id}`, /<td>(192\.0\.2\.\d+)<\/td>/g, 'Session pages');
    expect(sessions.pages.map((page) => page.length)).toEqual([50, 50, 20]);
    expect(sessions.pages.flat()).toEqual(Array.from({ length: 120 }, (_, i) => `192.0.2.${119 - i}`));

    const grants = await walk(`/admin/people/${person.id}`, /<code class="fine">(client-\d+)<\/code>/g, 'Grant pages');
    expect(grants.pages.map((page) => page.length)).toEqual([50, 50, 20]);
    expect(grants.pages.flat()).toEqual(Array.from({ length: 120 }, (_, i) => `client-${String(119 - i).padStart(3, '0')}`));
    // On the second page of grants, the "Older sessions" link keeps the grants where they are.
    const secondOfGrants = await agent.request(`${server.issuer}/admin/people/${person.id}`).then((res) => {
      const link = [...res.body.matchAll(/<a href="([^"]+)" rel="next">/g)].map((m) => decode(m[1]!)).find((href) => href.includes('grants='));
      return agent.request(new URL(link!, server.issuer).href);
    });
    const olderSessions = decode(/<nav class="admin-pager" aria-label="Session pages">[\s\S]*?<a href="([^"]+)" rel="next">/.exec(secondOfGrants.body)![1]!);
    expect(new URL(olderSessions, server.issuer).searchParams.get('grants')).toBeTruthy();
  });
});

describe('the audit log', () => {
  it('pages older events with the filters kept, and only the events they match', async () => {
    const [person] = await server.db('users').select('id').where({ email: 'bulk-0042@example.test' });
    for (let i = 0; i < 130; i += 1) {
      await server.audit.append({ type: 'user.enabled', actor: { type: 'system', id: null }, userId: person.id, details: { n: i } });
      await server.audit.append({ type: 'user.disabled', actor: { type: 'system', id: null }, userId: person.id, details: { n: i } });
    }
    const { pages } = await walk(`/admin/audit?type=user.enabled&user=${person.id}`, /<td class="admin-details">n: (\d+)<\/td>/g, 'Audit log pages');
    expect(pages.map((page) => page.length)).toEqual([50, 50, 30]);
    expect(pages.flat()).toEqual(Array.from({ length: 130 }, (_, i) => String(129 - i)));
  });

  it('a malformed cursor is a 400 page', async () => {
    const res = await agent.request(`${server.issuer}/admin/audit?cursor=${encodeURIComponent("1' or 1=1")}`);
    expect(res.status).toBe(400);
  });
});
