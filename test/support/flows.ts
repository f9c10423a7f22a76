// The steps a person takes in the browser, as functions, so tests read as the flow they check.
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { TestServer } from './gatehouse.js';
import { formOf, UserAgent } from './user-agent.js';

export const PASSWORD = 'correct horse battery staple';

export interface App {
  config: client.Configuration;
  clientId: string;
  clientSecret: string | undefined;
  redirectUri: string;
}

/** What the flows need of a server: where it is and its stores (an in-process TestServer, or stores beside a process). */
export type FlowServer = Pick<TestServer, 'issuer' | 'stores'>;

let counter = 0;

/** A person with a known password. */
export async function createPerson(server: FlowServer, overrides: { email?: string; name?: string } = {}) {
  counter += 1;
  const email = overrides.email ?? `person${counter}.${Date.now()}@example.test`;
  const user = await server.stores.users.create({ email, name: overrides.name ?? `Person ${counter}`, password: PASSWORD, emailVerified: true });
  return { ...user, password: PASSWORD };
}

/** A third-party app registered as an operator would, seen through openid-client's discovery. */
export async function registerApp(server: FlowServer, options: { public?: boolean; scope?: string; redirectUri?: string; postLogoutRedirectUri?: string } = {}): Promise<App> {
  const redirectUri = options.redirectUri ?? 'https://app.example.test/callback';
  const { client: registered, clientSecret } = await server.stores.clients.create({
    name: 'Example App',
    redirectUris: [redirectUri],
    postLogoutRedirectUris: options.postLogoutRedirectUri ? [options.postLogoutRedirectUri] : [],
    public: options.public ?? false,
    ...(options.scope ? { scope: options.scope } : {}),
  });
  const config = await client.discovery(
    new URL(server.issuer),
    registered.clientId,
    clientSecret,
    clientSecret ? client.ClientSecretBasic(clientSecret) : client.None(),
    { execute: [client.allowInsecureRequests] },
  );
  return { config, clientId: registered.clientId, clientSecret, redirectUri };
}

export interface AuthorizationRequest {
  url: URL;
  codeVerifier: string;
  state: string;
  nonce: string;
}

export async function authorizationRequest(app: App, params: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(app.config, {
    redirect_uri: app.redirectUri,
    scope: 'openid profile email offline_access',
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, codeVerifier, state, nonce };
}

/**
 * Signs in on the login page and answers the consent page, as a person would; returns the URL
 * the browser is finally sent to (the app's redirect URI with code or error).
 */
export async function signIn(
  agent: UserAgent,
  url: URL | string,
  person: { email: string; password: string },
  decision: 'allow' | 'deny' = 'allow',
): Promise<URL> {
  let page = await agent.follow(String(url));
  if (page.leftTo) return new URL(page.leftTo);
  if (/name="password"/.test(page.body)) {
    const login = formOf(page.body, /\/login$/);
    page = await agent.follow(new URL(login.action, page.url).href, { form: { csrf: login.csrf, email: person.email, password: person.password } });
    if (page.leftTo) return new URL(page.leftTo);
  }
  if (/name="decision"/.test(page.body)) {
    const consent = formOf(page.body, /\/confirm$/);
    page = await agent.follow(new URL(consent.action, page.url).href, { form: { csrf: consent.csrf, decision } });
    if (page.leftTo) return new URL(page.leftTo);
  }
  throw new Error(`sign-in did not return to the app; last page ${page.status} ${page.url}:\n${page.body.slice(0, 800)}`);
}

/** The whole flow for an app: authorization request, sign-in, consent, code exchange. */
export async function obtainTokens(server: FlowServer, app: App, person: { email: string; password: string }, params: Record<string, string> = {}) {
  const agent = new UserAgent(server.issuer);
  const request = await authorizationRequest(app, params);
  const callback = await signIn(agent, request.url, person);
  const tokens = await client.authorizationCodeGrant(app.config, callback, {
    pkceCodeVerifier: request.codeVerifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  });
  return { tokens, agent, request, callback };
}

/**
 * `count` grants of fresh people to `app`, each from a whole flow with `params` (a scope, a
 * resource), by the grant id their access tokens carry, in the order made.
 */
export async function grantIds(server: FlowServer, app: App, count: number, params: Record<string, string>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const { tokens } = await obtainTokens(server, app, await createPerson(server), params);
    ids.push(String(decodeJwt(tokens.access_token).grant_id));
  }
  return ids;
}
