// The form body of a request to one of oidc-provider's token endpoints (token, introspection,
// revocation), read once by whichever of our middleware in front of the provider needs it first.
// oidc-provider then uses the parsed body instead of reading the stream (it prints a one-time
// notice that upstream parsing is not recommended; here it is scoped to these routes and to
// oidc-provider's own size limit). Both are reliances of src/oidc/internals.ts.
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { bodyProviderReads, PROVIDER_BODY_LIMIT } from '../oidc/internals.js';

const parseForm = bodyParser({ enableTypes: ['form'], formLimit: PROVIDER_BODY_LIMIT, encoding: 'utf-8' });

/**
 * The parsed form (an empty object for another content type), or undefined after answering an
 * unreadable or oversized body with OAuth error JSON.
 */
export async function readTokenEndpointForm(ctx: Context): Promise<Record<string, unknown> | undefined> {
  try {
    await parseForm(ctx, async () => {}); // a no-op when the body was parsed already
  } catch (error) {
    const status = (error as { status?: number }).status;
    ctx.status = status === 413 ? 413 : 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      error: 'invalid_request',
      error_description: status === 413 ? 'the request body is too large' : 'the request body could not be parsed',
    };
    return undefined;
  }
  return bodyProviderReads(ctx) ?? {};
}
