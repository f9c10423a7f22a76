// The authorization-code flow as a browser and an app drive it, over plain fetch: authorization
// request, sign-in, consent, code, code exchange. Used for the flow scenario (authorizationCodeFlows:
// N loops of fresh browsers, so argon2id runs on every flow), to sign people in for the tokens the
// other scenarios present, and by the cross-instance walk and trace.ts step by step.
import { createHash, randomBytes } from 'node:crypto';
import { Browser } from './browser.js';
import { basic, summariseCpu, type Credentials, type LoadOptions, type Probe, type ScenarioResult, type Target } from './scenarios.js';
import { percentiles } from './stats.js';

export interface FlowOutcome { code: string; consentShown: boolean; tokens: Record<string, unknown> }

export interface Authorized { code: string; verifier: string; consentShown: boolean }

/** Authorization request → (sign-in) → (consent) → the code at the app's callback, over plain fetch. */
export async function authorize(
  target: Target,
  person: { email: string; password: string },
  options: { browser?: Browser; scope: string; prompt?: string },
): Promise<Authorized> {
  const browser = options.browser ?? new Browser(target.base);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const url = new URL('/auth', target.base);
  url.search = new URLSearchParams({
    client_id: target.app.clientId, response_type: 'code', redirect_uri: target.redirectUri!, scope: options.scope,
    state, nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    resource: target.apiIdentifier,
    ...(options.prompt ? { prompt: options.prompt } : {}),
  }).toString();

  let page = await browser.go(url.href);
  let consentShown = false;
  if (!page.leftTo && /name="password"/.test(page.body)) {
    page = await browser.submit(page, /\/login$/, { email: person.email, password: person.password });
  }
  if (!page.leftTo && /name="decision"/.test(page.body)) {
    consentShown = true;
    page = await browser.submit(page, /\/confirm$/, { decision: 'allow' });
  }
  if (!page.leftTo) throw new Error(`flow did not return to the app: ${page.status} ${page.url}`);
  const callback = new URL(page.leftTo);
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== state) throw new Error(`no code at the callback: ${callback.search}`);
  return { code, verifier, consentShown };
}

/** A form POST from the app (or an API) with its client credentials; the answer parsed as JSON. */
export async function postForm(target: Target, path: string, auth: Credentials, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(new URL(path, target.base), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(auth), ...headers },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // revocation answers 200 with an empty body
  }
  return { status: res.status, json, headers: res.headers };
}

/** The code exchange, as the app makes it. */
export function exchangeCode(target: Target, authorized: Authorized, headers: Record<string, string> = {}) {
  return postForm(target, '/token', target.app, {
    grant_type: 'authorization_code', code: authorized.code, redirect_uri: target.redirectUri!, code_verifier: authorized.verifier,
  }, headers);
}

/** Authorization request → (sign-in) → (consent) → code → token exchange, over plain fetch. */
export async function authorizationCodeFlow(
  target: Target,
  person: { email: string; password: string },
  options: { browser?: Browser; scope: string; prompt?: string },
): Promise<FlowOutcome> {
  const authorized = await authorize(target, person, options);
  const { status, json: tokens } = await exchangeCode(target, authorized);
  if (status !== 200) throw new Error(`code exchange failed: ${status} ${JSON.stringify(tokens)}`);
  return { code: authorized.code, consentShown: authorized.consentShown, tokens };
}

/**
 * `loops` people signing in over and over for `seconds`: a fresh browser each time (so argon2id
 * runs on every flow), consent remembered from seeding, then the code exchange.
 */
export async function authorizationCodeFlows(target: Target, load: LoadOptions & { loops: number }, probe?: Probe): Promise<ScenarioResult> {
  const people = target.people!;
  const latencies: number[] = [];
  let errors = 0;
  let consentShown = 0;
  let requests = 0;
  const run = async (seconds: number, record: boolean) => {
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: load.loops }, async (_, i) => {
      while (performance.now() < deadline) {
        const started = performance.now();
        try {
          const outcome = await authorizationCodeFlow(target, people[i % people.length]!, { scope: `openid profile email ${target.apiScope}` });
          if (record) {
            latencies.push(performance.now() - started);
            if (outcome.consentShown) consentShown += 1;
          }
        } catch {
          if (record) errors += 1;
        }
      }
    }));
  };
  if (load.warmupSeconds > 0) await run(load.warmupSeconds, false);
  const finish = probe ? await probe() : undefined;
  const started = performance.now();
  await run(load.seconds, true);
  const elapsed = (performance.now() - started) / 1000;
  const reading = finish ? await finish() : undefined;
  latencies.sort((a, b) => a - b);
  requests = latencies.length + errors;
  return {
    scenario: 'authorization-code flow (sign-in + remembered consent + code exchange)',
    target: target.label,
    completed: latencies.length,
    perSecond: latencies.length / elapsed,
    latencyMs: percentiles(latencies),
    errors,
    dbRoundTripsPerRequest: reading?.queries != null && requests ? reading.queries / requests : null,
    connections: load.loops,
    seconds: Math.round(elapsed * 10) / 10,
    ...(reading?.cpu ? { cpu: summariseCpu(reading.cpu, latencies.length) } : {}),
    notes: `flows/s with ${load.loops} concurrent loops; DB round trips are per flow${consentShown ? `; consent page shown ${consentShown} times (not remembered)` : ''}`,
  };
}
