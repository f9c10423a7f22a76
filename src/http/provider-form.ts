// A form posted to one of oidc-provider's endpoints (token, introspection, revocation, the device
// page), read once by whichever of our middleware in front of the provider needs it first.
// oidc-provider then uses the parsed body instead of reading the stream (it prints a one-time
// notice that upstream parsing is not recommended; here it is scoped to these routes and to
// oidc-provider's own size limit). Both are reliances of src/oidc/internals.ts.
import { parse } from 'node:querystring';
import type { Context } from 'koa';
import { bodyProviderReads, PROVIDER_BODY_LIMIT_BYTES, setBodyProviderReads } from '../oidc/internals.js';

/** Why a body was refused: its size, or anything else about it. */
export class UnreadableBody extends Error {
  constructor(readonly tooLarge: boolean, message: string) {
    super(message);
  }
}

/**
 * Read as oidc-provider reads a form itself (lib/shared/selective_body.js), so that what our
 * middleware decides on is what the provider then sees: its size limit, a Content-Length that
 * must match, and node:querystring's parse (a general form parser such as qs would read
 * `a.b=1` or `a[b]=1` as nested objects, which the provider knows nothing of).
 */
async function readForm(ctx: Context): Promise<Record<string, unknown>> {
  const encoding = ctx.get('content-encoding');
  if (encoding && encoding.toLowerCase() !== 'identity') throw new UnreadableBody(false, 'unsupported content encoding');
  const length = ctx.request.length;
  if (length !== undefined && length > PROVIDER_BODY_LIMIT_BYTES) throw new UnreadableBody(true, 'too large');
  // A stream already read to its end, or closed by a client that went away, emits nothing more:
  // waiting on it would hold the request (and its load-shedding slot) for good.
  if (!ctx.req.readable) throw new UnreadableBody(false, 'the body was read already, or the client went away');
  const body = await new Promise<Buffer>((resolve, reject) => {
    // Events rather than an async iterator: a form is one chunk or a few, and this is on every
    // token request.
    const chunks: Buffer[] = [];
    let received = 0;
    const { req } = ctx;
    const done = (error?: Error) => {
      req.off('data', onData).off('end', onEnd).off('error', done).off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > PROVIDER_BODY_LIMIT_BYTES) done(new UnreadableBody(true, 'too large'));
      else chunks.push(chunk);
    };
    const onEnd = () => done(length !== undefined && received !== length ? new UnreadableBody(false, 'length mismatch') : undefined);
    const onClose = () => done(new UnreadableBody(false, 'the client went away'));
    req.on('data', onData).on('end', onEnd).on('error', done).on('close', onClose);
  });
  return { ...parse(body.toString('utf8')) };
}

/**
 * The form as oidc-provider will see it (an empty object for another content type), read once and
 * handed to the provider. Throws UnreadableBody for a body the provider would refuse to read, or a
 * stream that failed.
 */
export async function readProviderForm(ctx: Context): Promise<Record<string, unknown>> {
  const read = bodyProviderReads(ctx);
  if (read) return read;
  if (!ctx.is('application/x-www-form-urlencoded')) return {};
  try {
    const form = await readForm(ctx);
    setBodyProviderReads(ctx, form);
    return form;
  } catch (error) {
    // A stream that failed (the client went away) is as unreadable as a malformed body.
    throw error instanceof UnreadableBody ? error : new UnreadableBody(false, 'the body could not be read');
  }
}

/**
 * For the token endpoints: the parsed form, or undefined after answering an unreadable or
 * oversized body with OAuth error JSON.
 */
export async function readTokenEndpointForm(ctx: Context): Promise<Record<string, unknown> | undefined> {
  try {
    return await readProviderForm(ctx);
  } catch (error) {
    const tooLarge = error instanceof UnreadableBody && error.tooLarge;
    ctx.status = tooLarge ? 413 : 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      error: 'invalid_request',
      error_description: tooLarge ? 'the request body is too large' : 'the request body could not be parsed',
    };
    return undefined;
  }
}
