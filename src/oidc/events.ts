// What the provider does, as log lines. oidc-provider emits events from its models and endpoints;
// this is the one place that listens, so no model or route logs on its own.
import type { Provider } from 'oidc-provider';
import type { Logger } from '../logger.js';

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

export function logProviderEvents(provider: Provider, logger: Logger): void {
  const log = logger.child({ component: 'oidc' });

  provider.on('server_error', (ctx, error) => {
    log.error({ event: 'server_error', requestId: ctx.state?.requestId, route: ctx.oidc?.route, err: { message: error.message, stack: error.stack } });
  });
  provider.on('grant.success', (ctx) => {
    log.info({ event: 'token.issued', grantType: ctx.oidc.params?.grant_type, clientId: ctx.oidc.client?.clientId, accountId: ctx.oidc.account?.accountId, requestId: ctx.state?.requestId });
  });
  provider.on('grant.error', (ctx, error) => {
    // oidc-provider keeps the specific reason in error_detail; error_description stays generic.
    const detail = (error as { error_detail?: string }).error_detail ?? '';
    const reuse = /already (used|consumed)|grant consumed/.test(detail);
    log.warn({
      event: reuse ? 'token.reuse_detected' : 'token.refused',
      grantType: ctx.oidc.params?.grant_type,
      clientId: ctx.oidc.client?.clientId,
      error: (error as { error?: string }).error,
      detail,
      requestId: ctx.state?.requestId,
    });
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    log.info({ event: 'grant.revoked', grantId, route: ctx.oidc?.route, clientId: ctx.oidc?.client?.clientId, requestId: ctx.state?.requestId });
  });
  provider.on('authorization.accepted', (ctx) => {
    log.info({ event: 'authorization.accepted', clientId: ctx.oidc.client?.clientId, requestId: ctx.state?.requestId });
  });
  provider.on('authorization.success', (ctx) => {
    log.info({ event: 'authorization.code_issued', clientId: ctx.oidc.client?.clientId, accountId: ctx.oidc.session?.accountId, requestId: ctx.state?.requestId });
  });
  provider.on('authorization.error', (ctx, error) => {
    log.info({ event: 'authorization.error', clientId: ctx.oidc?.client?.clientId, error: (error as { error?: string }).error, description: (error as { error_description?: string }).error_description, requestId: ctx.state?.requestId });
  });
  provider.on('end_session.success', (ctx) => {
    log.info({ event: 'session.ended', clientId: ctx.oidc.client?.clientId, requestId: ctx.state?.requestId });
  });
  provider.on('grant.saved', (grant) => log.debug({ event: 'grant.saved', ...ids(grant as WithIds) }));
  provider.on('refresh_token.consumed', (token) => log.debug({ event: 'refresh_token.rotated', ...ids(token as WithIds) }));
  provider.on('session.destroyed', (session) => log.debug({ event: 'session.destroyed', accountId: (session as WithIds).accountId }));
}
