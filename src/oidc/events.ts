// What the provider does, as log lines, audit events and metrics. oidc-provider emits events from its
// models and endpoints; this is the one place that listens, so no model or route logs on its own.
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import type { Actor } from '../audit/events.js';
import type { AuditLog } from '../audit/log.js';
import { markForErrorBoundary } from '../http/provider-errors.js';
import type { Logger } from '../logger.js';
import { refreshRetriesForgiven, refreshTokenReuse, revocations, tokenRequestsRefused, tokensIssued } from '../observability/metrics.js';
import type { ForgivenRetry } from '../tokens/refresh-retry.js';
import { currentRequest, errorDetailOf, isReuseDetail } from './internals.js';
import type { HeldConsumeFailure } from './models/index.js';

interface WithIds {
  clientId?: string;
  accountId?: string;
  grantId?: string;
  kind?: string;
}

/** Identifiers only: never a token value, code or cookie. */
function ids(entity: WithIds | undefined) {
  return entity ? { clientId: entity.clientId, accountId: entity.accountId, grantId: entity.grantId } : {};
}

type ProviderContext = Parameters<Parameters<Provider['on']>[1]>[0] & {
  ip?: string;
  oidc?: { client?: { clientId?: string }; session?: { accountId?: string }; route?: string; entities?: Record<string, WithIds | undefined> };
};

/** Who made the request: the signed-in person at the end-session endpoint, else the authenticated app. */
function actorOf(ctx: ProviderContext | undefined): Actor {
  const ip = ctx?.ip ?? null;
  if (ctx?.oidc?.route?.startsWith('end_session') && ctx.oidc.session?.accountId) return { type: 'user', id: ctx.oidc.session.accountId, ip };
  const clientId = ctx?.oidc?.client?.clientId;
  return clientId ? { type: 'client', id: clientId, ip } : { type: 'anonymous', id: null, ip };
}

/** A token the revocation endpoint destroyed, by what kind it was. */
function recordRevocation(audit: AuditLog, tokenType: string, token: WithIds): void {
  // Tokens are destroyed on rotation and replay too; only the revocation endpoint revokes.
  const ctx = currentRequest() as ProviderContext | undefined;
  if (ctx?.oidc?.route !== 'revocation') return;
  revocations.inc({ cause: 'revocation_endpoint' });
  audit.record({ type: 'token.revoked', actor: actorOf(ctx), clientId: token.clientId, userId: token.accountId, details: { tokenType, grantId: token.grantId } });
}

/**
 * A refresh retried within the window and answered with the successor it lost (src/tokens/refresh-retry.ts):
 * not reuse, but an operator should see how often clients lose responses, and that a retry by a
 * thief in the window would look the same. Every retry is counted and logged; the audit log, which
 * keeps every entry, records a rotation's first only, so an app retrying in every window it opens
 * cannot fill it.
 */
export function forgivenRetryRecorder(logger: Logger, audit: AuditLog): (ctx: KoaContextWithOIDC, retry: ForgivenRetry) => void {
  const log = logger.child({ component: 'oidc' });
  return (ctx, retry) => {
    refreshRetriesForgiven.inc();
    const requestId = (ctx.state as { requestId?: string } | undefined)?.requestId;
    log.info({ event: 'refresh_token.retry_forgiven', clientId: retry.clientId, accountId: retry.accountId, grantId: retry.grantId, secondsSinceRotation: retry.secondsSinceRotation, retry: retry.retry, requestId });
    if (retry.retry !== 1) return;
    audit.record({
      type: 'refresh_token.retry_forgiven',
      actor: actorOf(ctx as unknown as ProviderContext),
      clientId: retry.clientId,
      userId: retry.accountId,
      details: { grantId: retry.grantId, secondsSinceRotation: retry.secondsSinceRotation, requestId },
    });
  };
}

/**
 * A refresh token's rotation, held back and written once the refresh was refused after the consume
 * (models/refresh-token.ts), that did not go through; or a code's consume, held back for its
 * exchange and written once the exchange was refused (models/code-redemption.ts: `code`). Refused
 * as a replay, the grant is revoked as for any replay: a warning. Any other failure leaves the
 * presented token or code usable: an error, one line per failure (`refresh_token.consume_failed`,
 * `code.consume_failed`) to count and alert on.
 */
export function heldConsumeFailureRecorder(logger: Logger, held: 'refresh_token' | 'code' = 'refresh_token'): (failure: HeldConsumeFailure) => void {
  const log = logger.child({ component: 'oidc' });
  return ({ error, ...ids }) => {
    if (error instanceof errors.InvalidGrant) {
      log.warn({ event: `${held}.consume_refused`, ...ids, detail: errorDetailOf(error) });
      return;
    }
    log.error({ event: `${held}.consume_failed`, ...ids, err: { message: (error as Error | undefined)?.message?.split('\n')[0] } });
  };
}

export function logProviderEvents(provider: Provider, logger: Logger, audit: AuditLog): void {
  const log = logger.child({ component: 'oidc' });

  provider.on('server_error', (ctx, error) => {
    // Answered again, and logged in one line, by the error boundary (app.ts).
    if (markForErrorBoundary(ctx, error)) return;
    log.error({ event: 'server_error', requestId: ctx.state?.requestId, route: ctx.oidc?.route, err: { message: error.message, stack: error.stack } });
  });
  // Writing a logout token to the outbox failed (the database): the person is still signed out,
  // and this app was not told (src/logout/).
  provider.on('backchannel.error', (ctx, error, client) => {
    log.error({ event: 'logout.write_failed', clientId: client?.clientId, requestId: ctx.state?.requestId, err: { message: error.message } });
  });
  provider.on('grant.success', (ctx) => {
    countIssued(ctx.oidc.params?.grant_type, ctx.body);
    log.info({ event: 'token.issued', grantType: ctx.oidc.params?.grant_type, clientId: ctx.oidc.client?.clientId, accountId: ctx.oidc.account?.accountId, requestId: ctx.state?.requestId });
  });
  provider.on('grant.error', (ctx, error) => {
    // oidc-provider keeps the specific reason in error_detail; error_description stays generic.
    const detail = errorDetailOf(error);
    const reuse = isReuseDetail(detail);
    const clientId = ctx.oidc.client?.clientId;
    countRefused(ctx.oidc.params?.grant_type, (error as { error?: string }).error, reuse);
    log.warn({
      event: reuse ? 'token.reuse_detected' : 'token.refused',
      grantType: ctx.oidc.params?.grant_type,
      clientId,
      error: (error as { error?: string }).error,
      detail,
      requestId: ctx.state?.requestId,
    });
    if (reuse && ctx.oidc.params?.grant_type === 'refresh_token') {
      // The replayed token's grant is already revoked by the adapter; this says by whom and when.
      audit.record({ type: 'refresh_token.reuse_detected', actor: actorOf(ctx as ProviderContext), clientId, details: { requestId: ctx.state?.requestId } });
    }
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    const route = ctx.oidc?.route;
    // At the token endpoint a grant is revoked for a replayed code or refresh token, and at the
    // revocation endpoint with the token revoked: each counted once, where it is seen (above).
    if (route !== 'token' && route !== 'revocation') revocations.inc({ cause: route?.startsWith('end_session') ? 'sign_out' : 'other' });
    log.info({ event: 'grant.revoked', grantId, route, clientId: ctx.oidc?.client?.clientId, requestId: ctx.state?.requestId });
    const actor = actorOf(ctx as ProviderContext);
    audit.record({ type: 'grant.revoked', actor, clientId: ctx.oidc?.client?.clientId, userId: ctx.oidc?.session?.accountId, details: { grantId, route } });
  });
  provider.on('access_token.destroyed', (token) => recordRevocation(audit, 'access_token', token as WithIds));
  provider.on('client_credentials.destroyed', (token) => recordRevocation(audit, 'client_credentials', token as WithIds));
  provider.on('refresh_token.destroyed', (token) => recordRevocation(audit, 'refresh_token', token as WithIds));
  provider.on('authorization.accepted', (ctx) => {
    log.info({ event: 'authorization.accepted', clientId: ctx.oidc.client?.clientId, requestId: ctx.state?.requestId });
  });
  provider.on('authorization.success', (ctx) => {
    // response_type `none` (the account pages' client) issues no code: say what was answered.
    log.info({ event: 'authorization.succeeded', responseType: ctx.oidc.params?.response_type, clientId: ctx.oidc.client?.clientId, accountId: ctx.oidc.session?.accountId, requestId: ctx.state?.requestId });
  });
  provider.on('authorization.error', (ctx, error) => {
    log.info({ event: 'authorization.error', clientId: ctx.oidc?.client?.clientId, error: (error as { error?: string }).error, description: (error as { error_description?: string }).error_description, requestId: ctx.state?.requestId });
  });
  // A sign-out that fails ends on a page in Gatehouse's words; the provider's reason is here, under
  // the request id the page shows as its reference.
  for (const event of ['end_session.error', 'end_session_confirm.error', 'end_session_success.error'] as const) {
    provider.on(event as 'end_session.error', (ctx, error) => {
      log.info({ event: 'end_session.error', clientId: ctx.oidc?.client?.clientId, error: error.error, description: error.error_description, requestId: ctx.state?.requestId });
    });
  }
  provider.on('end_session.success', (ctx) => {
    log.info({ event: 'session.ended', clientId: ctx.oidc.client?.clientId, requestId: ctx.state?.requestId });
    const actor = actorOf(ctx as ProviderContext);
    audit.record({ type: 'session.ended', actor, userId: actor.type === 'user' ? actor.id : null, clientId: ctx.oidc.client?.clientId, details: { how: 'sign_out' } });
  });
  provider.on('grant.saved', (grant) => log.debug({ event: 'grant.saved', ...ids(grant as WithIds) }));
  // Emitted when the grant asks for the consume, which is written with the successor (models/refresh-token.ts):
  // a rotation under way, refused still if another request won the token.
  provider.on('refresh_token.consumed', (token) => log.debug({ event: 'refresh_token.rotating', ...ids(token as WithIds) }));
  provider.on('session.destroyed', (session) => log.debug({ event: 'session.destroyed', accountId: (session as WithIds).accountId }));
}

/** The grant types Gatehouse may be asked for; anything else a client sends is one label, `other`. */
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange']);

function grantTypeLabel(grantType: unknown): string {
  return typeof grantType === 'string' && GRANT_TYPES.has(grantType) ? grantType : 'other';
}

/** What the token endpoint answered with: one count per kind of token in the response. */
function countIssued(grantType: unknown, body: unknown): void {
  const answered = (body ?? {}) as Record<string, unknown>;
  for (const kind of ['access_token', 'refresh_token', 'id_token'] as const) {
    if (typeof answered[kind] === 'string') tokensIssued.inc({ grant_type: grantTypeLabel(grantType), kind });
  }
}

/** A refused token request, and the grant a replayed code or refresh token cost (already revoked). */
function countRefused(grantType: unknown, error: string | undefined, reuse: boolean): void {
  const label = grantTypeLabel(grantType);
  tokenRequestsRefused.inc({ grant_type: label, error: typeof error === 'string' && /^[a-z_]{1,40}$/.test(error) ? error : 'other' });
  if (!reuse) return;
  if (label === 'refresh_token') {
    refreshTokenReuse.inc();
    revocations.inc({ cause: 'refresh_token_reuse' });
  } else if (label === 'authorization_code') {
    revocations.inc({ cause: 'authorization_code_reuse' });
  }
}
