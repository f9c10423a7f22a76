// The Shared Signals Framework's transmitter metadata (SSF 1.0 §7.1), at
// /.well-known/ssf-configuration: who signs the events (issuer, jwks_uri), how they are delivered
// (RFC 8935 push, RFC 8936 poll at /ssf/poll) and which event types Gatehouse sends.
//
// Receivers are registered by an operator (an app's or API's events endpoint: CLI, admin API,
// console), not through SSF's stream-management API: so the metadata names no
// configuration_endpoint, and says so in words a reader of it can follow (docs/security-events.md).
import Router from '@koa/router';
import { DISCOVERY_MAX_AGE_SECONDS } from '../http/metadata-caching.js';
import { EVENTS_SUPPORTED, POLL_DELIVERY, PUSH_DELIVERY, SSF_SPEC_VERSION } from './vocabulary.js';

export const SSF_CONFIGURATION_PATH = '/.well-known/ssf-configuration';

/** The metadata document: the same for every caller, changing only with the configuration. */
export function transmitterMetadata(issuer: string, jwksUri: string): Record<string, unknown> {
  return {
    spec_version: SSF_SPEC_VERSION,
    issuer,
    jwks_uri: jwksUri,
    delivery_methods_supported: [PUSH_DELIVERY, POLL_DELIVERY],
    events_supported: [...EVENTS_SUPPORTED],
  };
}

export function transmitterMetadataRoutes(issuer: string, jwksPath: string): Router {
  const router = new Router();
  const body = transmitterMetadata(issuer, `${issuer}${jwksPath}`);
  router.get(SSF_CONFIGURATION_PATH, (ctx) => {
    ctx.set('Cache-Control', `public, max-age=${DISCOVERY_MAX_AGE_SECONDS}`);
    ctx.body = body;
  });
  return router;
}
