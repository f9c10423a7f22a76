// `node --import tsx bench/trace.ts`: every database round trip Gatehouse sends for one of each
// thing the benchmark measures, request by request — the sign-in flow (consent remembered, as the
// flow scenario runs it), a refresh, introspections, userinfo, client_credentials — on a fresh
// database (or DATABASE_URL), with Gatehouse in this process. Counted where queries leave the
// process (pg's Client.query), so statements that bypass knex (the sign-in throttle's) are in it.
// It shows which queries a path sends, not how long they take under load: `npm run bench` does.
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startGatehouse } from '../src/server.js';
import { Browser } from './browser.js';
import { tapQueries } from './query-tap.js';
import * as flow from './flow.js';
import * as s from './scenarios.js';
import { APP_SCOPE, benchDatabase, freePort, gatehouseEnvironment, gatehouseTarget, seed } from './setup.js';

interface TracedRequest { label: string; status?: number; queries: string[] }

const current = new AsyncLocalStorage<TracedRequest>();
let trace: TracedRequest[] | undefined;
const outside: string[] = [];

tapQueries(({ text, name, values }) => {
  // knex binds the oidc_records model first: say which model a generic statement was for.
  const model = values.find((v): v is string => typeof v === 'string' && /^(Session|Interaction|Grant|AccessToken|AuthorizationCode|RefreshToken|ClientCredentials)$/.test(v));
  const sql = `${model ? `[${model}] ` : ''}${text.replace(/\s+/g, ' ').trim().slice(0, 150)}${name ? ` [prepared ${name}]` : ''}`;
  if (trace) (current.getStore()?.queries ?? outside).push(sql);
});

async function traced(name: string, run: () => Promise<unknown>): Promise<void> {
  trace = [];
  outside.length = 0;
  await run();
  const requests = trace;
  trace = undefined;
  const total = requests.reduce((n, r) => n + r.queries.length, 0);
  process.stdout.write(`\n## ${name}: ${total} round trips over ${requests.length} HTTP request${requests.length === 1 ? '' : 's'}\n`);
  for (const request of requests) {
    process.stdout.write(`\n${request.label} → ${request.status ?? '?'}: ${request.queries.length}\n`);
    request.queries.forEach((sql, i) => process.stdout.write(`  ${String(i + 1).padStart(2)}. ${sql}\n`));
  }
  if (outside.length) process.stdout.write(`\n(outside any request: ${outside.length})\n${outside.map((sql) => `   - ${sql}\n`).join('')}`);
}

const database = await benchDatabase();
try {
  const seeded = await seed(database.url, 1);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = loadConfig({ ...gatehouseEnvironment(base, database.url), PORT: String(port) });
  const gatehouse = await startGatehouse(config, createLogger('silent'), { background: false });
  gatehouse.server.prependListener('request', (req, res) => {
    const request: TracedRequest = { label: `${req.method} ${(req.url ?? '').split('?')[0]}`, queries: [] };
    trace?.push(request);
    res.once('finish', () => { request.status = res.statusCode; });
    current.enterWith(request);
  });
  try {
    const target = gatehouseTarget(base, seeded);
    const person = seeded.people[0]!;
    const scope = `${APP_SCOPE} ${seeded.apiScope}`;
    // Consent once, then one untraced flow so pools, caches and keys are warm, as under load.
    const consented = await flow.authorizationCodeFlow(target, person, { browser: new Browser(base), scope, prompt: 'consent' });
    await flow.authorizationCodeFlow(target, person, { scope: `openid profile email ${seeded.apiScope}` });

    await traced('sign-in flow with remembered consent (the flow scenario: a fresh browser, argon2id, code exchange)', () =>
      flow.authorizationCodeFlow(target, person, { scope: `openid profile email ${seeded.apiScope}` }));
    let refreshToken = String(consented.tokens.refresh_token);
    let accessToken = String(consented.tokens.access_token);
    await traced('refresh_token grant (rotating)', async () => {
      const answer = await flow.postForm(target, '/token', seeded.app, { grant_type: 'refresh_token', refresh_token: refreshToken });
      refreshToken = String(answer.json.refresh_token);
      accessToken = String(answer.json.access_token);
    });
    await traced('introspection of a refresh token, by its app', () => flow.postForm(target, '/token/introspection', seeded.app, { token: refreshToken, token_type_hint: 'refresh_token' }));
    await traced('userinfo with a JWT access token (first use; the second is cached)', async () => {
      for (let i = 0; i < 2; i += 1) await fetch(new URL('/me', base), { headers: { authorization: `Bearer ${accessToken}` } }).then((res) => res.arrayBuffer());
    });
    let jwt = '';
    await traced('client_credentials', async () => {
      jwt = String((await flow.postForm(target, '/token', seeded.machine, { grant_type: 'client_credentials', scope: seeded.apiScope, resource: seeded.apiIdentifier })).json.access_token);
    });
    await traced('introspection of a JWT access token, by the API (first ask, then cached)', async () => {
      for (let i = 0; i < 2; i += 1) await flow.postForm(target, '/token/introspection', seeded.api, { token: jwt });
    });
  } finally {
    await gatehouse.close();
  }
} finally {
  await database.drop();
}
