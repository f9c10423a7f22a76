// The two scripts passkey pages load, both from Gatehouse's own origin so the CSP (script-src
// 'self', never 'unsafe-inline') needs nothing more: @simplewebauthn/browser's UMD bundle, which
// defines window.SimpleWebAuthnBrowser, and our page script (views/passkeys.js), which finds the
// passkey forms by their data attributes. Both are read once, at start-up.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Context, Next } from 'koa';
import { VIEWS_DIR } from '../paths.js';

export const WEBAUTHN_SCRIPT = '/assets/webauthn.js';
export const PASSKEYS_SCRIPT = '/assets/passkeys.js';

/** The package's own folder: its exports name only its modules, so it is found from its entry point. */
function browserBundle(): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const bundle = path.join(dir, 'dist', 'bundle', 'index.umd.min.js');
    try {
      return readFileSync(bundle, 'utf8');
    } catch {
      // not this folder: go up
    }
  }
  throw new Error('@simplewebauthn/browser: dist/bundle/index.umd.min.js not found');
}

export function passkeyAssets() {
  const files = new Map([
    [WEBAUTHN_SCRIPT, browserBundle()],
    [PASSKEYS_SCRIPT, readFileSync(path.join(VIEWS_DIR, 'passkeys.js'), 'utf8')],
  ]);
  return async function servePasskeyScript(ctx: Context, next: Next) {
    const body = files.get(ctx.path);
    if (body === undefined || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.state.route = ctx.path;
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  };
}
