// The cross-instance walk, run by `--instances N` (N ≥ 2) before any load: one person's flow with
// each step pinned to a different Gatehouse process behind the proxy (proxy.ts, x-bench-instance),
// so nothing an instance keeps in memory can carry a step that the shared database does not.
//
//   1. sign-in (authorization request, login, consent, code) on instance 1
//   2. the code exchange on instance 2
//   3. the refresh on instance 3 (instance 1 when N = 2)
//   4. introspection (refresh token by the app, JWT access token by the API) and userinfo on every
//      instance: active — which also warms every instance's caches with the token's standing
//   5. revocation of the refresh token (the grant with it) through the instance after the refresher
//   6. on every instance: introspection reads inactive for both tokens (asked again until it does,
//      for at most a second, as test/e2e/two-processes.test.ts allows), userinfo refuses the
//      access token, and the revoked refresh token cannot be refreshed.
//
// Every answer must also say it came from the instance it was pinned to, so a proxy that ignored
// the pin cannot make the walk pass.
import { Browser } from './browser.js';
import { PIN_HEADER, SERVED_BY_HEADER } from './proxy.js';
import * as flow from './flow.js';
import * as s from './scenarios.js';

export interface WalkStep {
  step: string;
  /** 1-based, as people count instances. */
  instance: number;
  ok: boolean;
  detail: string;
}

export interface CrossInstanceWalk {
  instances: number;
  pass: boolean;
  steps: WalkStep[];
}

/** Propagation bound for a revocation made on another instance (the same as the e2e test's). */
const PROPAGATION_MS = 1000;

const pin = (index: number) => ({ [PIN_HEADER]: String(index) });
const servedBy = (headers: Headers) => headers.get(SERVED_BY_HEADER) ?? 'unknown';

export async function crossInstanceWalk(target: s.Target, n: number, person: { email: string; password: string }, scope: string): Promise<CrossInstanceWalk> {
  const steps: WalkStep[] = [];
  const record = (step: string, index: number, ok: boolean, detail: string) => {
    steps.push({ step, instance: index + 1, ok, detail });
    return ok;
  };
  const done = () => ({ instances: n, pass: steps.length > 0 && steps.every((step) => step.ok), steps });
  const signInOn = 0;
  const exchangeOn = 1 % n;
  const refreshOn = 2 % n;
  const revokeOn = (refreshOn + 1) % n;

  // 1. Sign-in, pinned.
  // Every request of the browser, redirects included, is pinned to one instance.
  const signInServedBy = new Set<string>();
  const browser = new Browser(target.base, { headers: pin(signInOn), onAnswer: (headers) => signInServedBy.add(servedBy(headers)) });
  let authorized: flow.Authorized;
  try {
    // prompt=consent: oidc-provider issues a refresh token for offline_access only on a consented prompt.
    authorized = await flow.authorize(target, person, { browser, scope, prompt: 'consent' });
  } catch (error) {
    record('sign-in (authorization request, login, consent, code)', signInOn, false, (error as Error).message);
    return done();
  }
  const served = [...signInServedBy].join(',');
  if (!record('sign-in (authorization request, login, consent, code)', signInOn, served === String(signInOn), `code issued; every page served by instance(s) ${served}${authorized.consentShown ? '; consent page shown' : '; consent remembered'}`)) return done();

  // 2. Code exchange elsewhere.
  const exchanged = await flow.exchangeCode(target, authorized, pin(exchangeOn));
  const firstRefresh = String(exchanged.json.refresh_token ?? '');
  if (!record('code exchange', exchangeOn, exchanged.status === 200 && servedBy(exchanged.headers) === String(exchangeOn) && !!firstRefresh && typeof exchanged.json.id_token === 'string',
    `${exchanged.status}; ${firstRefresh ? 'refresh token, ' : 'no refresh token, '}${typeof exchanged.json.id_token === 'string' ? 'ID token' : 'no ID token'}`)) return done();

  // 3. Refresh on a third.
  const refreshed = await flow.postForm(target, '/token', target.app, { grant_type: 'refresh_token', refresh_token: firstRefresh }, pin(refreshOn));
  const refreshToken = String(refreshed.json.refresh_token ?? '');
  const accessToken = String(refreshed.json.access_token ?? '');
  if (!record('refresh (rotating)', refreshOn, refreshed.status === 200 && servedBy(refreshed.headers) === String(refreshOn) && !!refreshToken && refreshToken !== firstRefresh && accessToken.split('.').length === 3,
    `${refreshed.status}; ${refreshToken && refreshToken !== firstRefresh ? 'rotated' : 'not rotated'}; ${accessToken.split('.').length === 3 ? 'JWT access token' : 'no JWT access token'}`)) return done();

  const introspect = async (index: number, token: string, as: s.Credentials, hint: string) => {
    const answer = await flow.postForm(target, '/token/introspection', as, { token, token_type_hint: hint }, pin(index));
    return { ok: answer.status === 200 && servedBy(answer.headers) === String(index), active: answer.json.active === true, status: answer.status };
  };
  const userinfoStatus = async (index: number) => {
    const res = await fetch(new URL('/me', target.base), { headers: { authorization: `Bearer ${accessToken}`, ...pin(index) } });
    await res.arrayBuffer();
    return { status: res.status, served: servedBy(res.headers) === String(index) };
  };

  // 4. Active everywhere (and now cached everywhere).
  for (let k = 0; k < n; k += 1) {
    const rt = await introspect(k, refreshToken, target.app, 'refresh_token');
    const at = await introspect(k, accessToken, target.api, 'access_token');
    const me = await userinfoStatus(k);
    record('before revocation: introspection and userinfo', k, rt.ok && rt.active && at.ok && at.active && me.status === 200 && me.served,
      `refresh token ${rt.active ? 'active' : 'inactive'}, access token ${at.active ? 'active' : 'inactive'}, userinfo ${me.status}`);
  }

  // 5. Revocation through one instance.
  const revoked = await flow.postForm(target, '/token/revocation', target.app, { token: refreshToken, token_type_hint: 'refresh_token' }, pin(revokeOn));
  if (!record('revocation of the refresh token (and its grant)', revokeOn, revoked.status === 200 && servedBy(revoked.headers) === String(revokeOn), `${revoked.status}`)) return done();

  // 6. Inactive everywhere, within the propagation bound.
  for (let k = 0; k < n; k += 1) {
    const started = performance.now();
    let asks = 0;
    let inactive = false;
    let answered = true;
    do {
      asks += 1;
      const [rt, at] = await Promise.all([introspect(k, refreshToken, target.app, 'refresh_token'), introspect(k, accessToken, target.api, 'access_token')]);
      answered = rt.ok && at.ok;
      inactive = answered && !rt.active && !at.active;
    } while (answered && !inactive && performance.now() - started < PROPAGATION_MS);
    const ms = performance.now() - started;
    record('after revocation: introspection reads inactive', k, inactive,
      inactive ? `both tokens inactive after ${ms.toFixed(0)} ms (${asks} ask${asks === 1 ? '' : 's'})` : answered ? `still active after ${ms.toFixed(0)} ms` : 'introspection failed');
    const me = await userinfoStatus(k);
    const again = await flow.postForm(target, '/token', target.app, { grant_type: 'refresh_token', refresh_token: refreshToken }, pin(k));
    record('after revocation: userinfo and refresh refused', k, me.status === 401 && me.served && again.status === 400 && again.json.error === 'invalid_grant' && servedBy(again.headers) === String(k),
      `userinfo ${me.status}, refresh ${again.status} ${String(again.json.error ?? '')}`);
  }
  return done();
}
