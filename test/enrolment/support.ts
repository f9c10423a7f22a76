// What the enrolment tests share: a Gatehouse whose mail goes over real SMTP to a receiver on
// loopback (test/support/smtp.ts), delivered when the test says so (the sender's pass, run
// directly), and the links read back out of the mail as it arrived, MIME encoding and all.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { startSmtpReceiver, type ReceivedMail, type SmtpReceiver } from '../support/smtp.js';
import { formOf, type UserAgent } from '../support/user-agent.js';

export interface MailedServer {
  server: TestServer;
  smtp: SmtpReceiver;
  dataDir: string;
  /** Moves the clock links and the outbox go by. */
  advance(ms: number): void;
  /** Delivers everything due; returns the mails that arrived since the last call. */
  deliver(): Promise<ReceivedMail[]>;
  stop(): Promise<void>;
}

export async function startMailedServer(env: Record<string, string>): Promise<MailedServer> {
  const smtp = await startSmtpReceiver();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-enrolment-'));
  let offset = 0;
  const server = await startTestServer({
    SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <id@example.test>', DATA_DIR: dataDir,
    // The notices (a new browser, an app connected) are src/notices/'s tests' business: here they would only crowd the mailbox.
    EMAIL_NOTIFICATIONS: 'false',
    ...env,
  }, { now: () => Date.now() + offset });
  let seen = 0;
  return {
    server,
    smtp,
    dataDir,
    advance(ms) { offset += ms; },
    async deliver() {
      await server.deliveries.sender.deliverDue();
      const fresh = smtp.received.slice(seen);
      seen = smtp.received.length;
      return fresh;
    },
    async stop() {
      await server.stop();
      await smtp.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The message's text as a reader sees it: quoted-printable soft breaks joined, escapes decoded. */
export function readable(mail: ReceivedMail): string {
  const joined = mail.raw.replace(/=\r?\n/g, '');
  return Buffer.from(joined.replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))), 'latin1').toString('utf8');
}

/** The one distinct link to `page` in the mail (it appears as a button and written out). */
export function linkIn(mail: ReceivedMail, page: string): string {
  const links = [...new Set([...readable(mail).matchAll(/https?:\/\/[\w.:/?=&%-]+/g)].map((m) => m[0].replace(/[.,]+$/, '')).filter((url) => new URL(url).pathname === page))];
  expect(links, readable(mail)).toHaveLength(1);
  return links[0]!;
}

export function tokenOf(link: string): string {
  return new URL(link).searchParams.get('token')!;
}

/** Opens a link's page and posts its form with `fields`: what a person does with the mail. */
export async function followAndSubmit(agent: UserAgent, link: string, fields: Record<string, string> = {}) {
  const page = await agent.request(link);
  expect(page.status, page.body).toBe(200);
  const { action, csrf } = formOf(page.body);
  const token = /name="token" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
  return agent.request(new URL(action, link).href, { form: { csrf, token, ...fields } });
}

/**
 * An access token minted straight through the provider's models, as if some flow had issued one
 * to `accountId` for `app`, behind the sign-in page's back.
 */
export async function mintedToken(server: TestServer, app: App, accountId: string): Promise<string> {
  const provider = server.oidc.provider as unknown as {
    Client: { find(id: string): Promise<unknown> };
    Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
    AccessToken: new (init: Record<string, unknown>) => { save(): Promise<string> };
  };
  const grant = new provider.Grant({ accountId, clientId: app.clientId });
  grant.addOIDCScope('openid email');
  const grantId = await grant.save();
  return new provider.AccessToken({ accountId, client: await provider.Client.find(app.clientId), grantId, scope: 'openid email' }).save();
}

/** What userinfo answers to a minted token (findAccount decides). */
export async function userinfoWithMintedToken(server: TestServer, app: App, accountId: string): Promise<globalThis.Response> {
  const token = await mintedToken(server, app, accountId);
  return fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
}

/** Whether introspection, asked by the app itself, calls a minted token active (the token lookup and the JWT standing decide). */
export async function mintedTokenIsActive(server: TestServer, app: App, accountId: string): Promise<unknown> {
  const token = await mintedToken(server, app, accountId);
  const res = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret!)}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  });
  return ((await res.json()) as { active?: unknown }).active;
}
