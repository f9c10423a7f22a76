// The demo app's pages: plain server-rendered HTML that works without JavaScript. Every value goes
// through the `html` template tag, which escapes it unless it is already markup built by the tag,
// so claims from a token (which a person can partly choose, e.g. their name) can never inject HTML.
import { createHash } from 'node:crypto';

class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function renderValue(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderValue).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += renderValue(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

const STYLE = `
body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #1d232b; }
header p { color: #5a6572; margin-top: 0; }
pre { background: #f4f6f8; border: 1px solid #dde2e7; border-radius: 6px; padding: .75rem; overflow-x: auto; font-size: 14px; }
.button { display: inline-block; background: #1f5fbf; color: #fff; border: 0; border-radius: 6px; padding: .5rem 1rem; font: inherit; text-decoration: none; cursor: pointer; }
.button.secondary { background: #e8ecf0; color: #1d232b; }
.actions { display: flex; gap: .75rem; align-items: center; margin: 1.5rem 0; }
.actions form { margin: 0; }
.error { border-left: 4px solid #b3261e; padding-left: 1rem; }
code { background: #f4f6f8; padding: 0 .25rem; border-radius: 3px; }
`;

/**
 * The Content-Security-Policy for every demo page: no scripts at all, only the inline style above.
 * Forms post to the demo itself; browsers also hold a form's redirects to form-action, and "Call
 * the API" may answer with a redirect to Gatehouse (a step-up), so Gatehouse's origin is allowed too.
 */
export function contentSecurityPolicy(issuer: string): string {
  return [
    "default-src 'none'",
    `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
    `form-action 'self' ${new URL(issuer).origin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

function layout(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Gatehouse demo app</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<header><strong>Gatehouse demo app</strong><p>A development-only third-party app that signs people in with Gatehouse.</p></header>
<main>
${body}
</main>
</body>
</html>
`.value;
}

export function homePage(issuer: string, signedInAs?: string): string {
  return layout('Home', html`
<h1>Try signing in with Gatehouse</h1>
${signedInAs ? html`<p id="demo-session">This browser is signed in to the demo app (subject <code>${signedInAs}</code>). Signing out at Gatehouse, or an administrator ending that session there, ends it here too: Gatehouse sends the demo a logout token.</p>` : ''}
<p>This app is an ordinary OpenID Connect client of the Gatehouse server at <code>${issuer}</code>.
Signing in sends you to Gatehouse's sign-in and consent pages with an authorization-code request
(PKCE, state and nonce), then exchanges the code for tokens and shows you what came back:
the ID token, the JWT access token, the userinfo response and the refresh token.</p>
<div class="actions"><a class="button" href="/login">Sign in with Gatehouse</a></div>
`);
}

function jsonBlock(id: string, heading: string, value: unknown): SafeHtml {
  return html`<section id="${id}">
<h2>${heading}</h2>
<pre>${JSON.stringify(value, null, 2)}</pre>
</section>`;
}

export interface TokensView {
  /** True on the page shown after POST /refresh. */
  refreshed: boolean;
  idTokenClaims: Record<string, unknown> | undefined;
  accessToken: { raw: string; header: unknown; claims: unknown } | { raw: string; opaque: true };
  tokenResponse: { token_type: string; expires_in?: number | undefined; scope?: string | undefined };
  userinfo: Record<string, unknown> | undefined;
  refreshTokenIssued: boolean;
  /** The API the demo can call with the access token (`--api`), when one is set. */
  api?: string | undefined;
  /** What the API answered, on the page shown after calling it (and after a step-up to do so). */
  apiAnswer?: ApiAnswer | undefined;
}

export interface ApiAnswer {
  url: string;
  status: number;
  body: unknown;
  /** True when the API asked for a stronger or newer sign-in first and the demo signed in again (RFC 9470). */
  steppedUp: boolean;
}

export function tokensPage(view: TokensView): string {
  const who = view.userinfo?.email ?? view.idTokenClaims?.email ?? view.idTokenClaims?.sub;
  const at = view.accessToken;
  return layout(view.refreshed ? 'Tokens refreshed' : 'Signed in', html`
<h1>${view.refreshed ? 'Tokens refreshed' : 'Signed in'}</h1>
<p>${view.refreshed
    ? 'The refresh token was exchanged at the token endpoint for the tokens below.'
    : html`You are signed in as <strong>${who}</strong>.`}</p>
${jsonBlock('token-response', 'Token response', view.tokenResponse)}
${view.idTokenClaims ? jsonBlock('id-token', 'ID token claims', view.idTokenClaims) : ''}
${'opaque' in at
    ? html`<section id="access-token"><h2>Access token</h2><p>An opaque token (not a JWT).</p></section>`
    : html`${jsonBlock('access-token-header', 'Access token header', at.header)}
${jsonBlock('access-token', 'Access token claims', at.claims)}`}
<details><summary>Raw access token (to try calling an API with it)</summary><pre>${at.raw}</pre></details>
${view.userinfo ? jsonBlock('userinfo', 'Userinfo response', view.userinfo) : ''}
${view.apiAnswer ? html`<section id="api-answer">
<h2>The API answered ${view.apiAnswer.status}</h2>
${view.apiAnswer.steppedUp ? html`<p id="stepped-up">The API first refused the token for its sign-in (RFC 9470 <code>insufficient_user_authentication</code>); the demo asked Gatehouse for the sign-in it named, and called again with the new token.</p>` : ''}
<p><code>GET ${view.apiAnswer.url}</code></p>
<pre>${JSON.stringify(view.apiAnswer.body, null, 2)}</pre>
</section>` : ''}
<section id="refresh-token">
<h2>Refresh token</h2>
<p id="refresh-token-status">${view.refreshTokenIssued
    ? (view.refreshed ? 'A new refresh token was issued; the previous one can no longer be used.' : 'A refresh token was issued.')
    : 'No refresh token was issued.'}</p>
</section>
<div class="actions">
${view.refreshTokenIssued ? html`<form method="post" action="/refresh"><button class="button" type="submit">Refresh tokens</button></form>` : ''}
${view.api ? html`<form method="post" action="/call-api"><button class="button" type="submit">Call the API</button></form>` : ''}
<a class="button secondary" href="/logout">Sign out</a>
</div>
`);
}

export interface ErrorView {
  code: string;
  description: string;
}

export function errorPage(error: ErrorView): string {
  return layout('Sign-in did not complete', html`
<section class="error" role="alert">
<h1>Sign-in did not complete</h1>
<p>Error: <code id="error-code">${error.code}</code></p>
<p id="error-description">${error.description}</p>
</section>
<div class="actions"><a class="button" href="/">Back to the start</a></div>
`);
}
