// In front of oidc-provider's registration endpoints (RFC 7591 POST /reg, RFC 7592 PUT /reg/:id):
// the initial access token (unless OPEN_REGISTRATION) and the policy (policy.ts) are checked here,
// before oidc-provider sees the metadata, and a refusal is RFC 7591's error JSON. oidc-provider
// then validates what passed as it validates any client, and the write goes through registrar.ts.
// Answers (POST, GET, PUT) are given back in the app's words: its API scopes inside `scope`, and
// never the stored secret digest oidc-provider holds in place of the secret.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import type { Provider } from 'oidc-provider';
import type { ClientStore } from '../clients/store.js';
import { matchesDigest } from '../crypto/digest.js';
import { DEFAULT_APP_SCOPE } from '../clients/schema.js';
import { bodyProviderReads, PROVIDER_BODY_LIMIT } from '../oidc/internals.js';
import { answeredMetadata, applyRegistrationPolicy, RegistrationRefused, type RegistrationPolicySettings } from './policy.js';
import { rememberRegistration } from './registrar.js';
import type { RegistrationTokens } from './tokens.js';
import type { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Database } from '../db/knex.js';
import { networkOf } from '../security/client-address.js';
import { keyedDigest, type KeyedDigest } from '../security/keyed-digest.js';
import { databaseCounter } from '../security/rate-limit-store.js';

const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: PROVIDER_BODY_LIMIT, encoding: 'utf-8' });

export interface RegistrationGateDependencies {
  provider: Provider;
  tokens: RegistrationTokens;
  clients: ClientStore;
  settings: RegistrationPolicySettings;
  /** Counts registration requests per network (REGISTRATION_RATE_LIMIT); none: no limit. */
  limit?: RegistrationLimit | undefined;
}

/**
 * Registration requests per network per hour, in the shared rate_limits table so that every
 * instance counts together. Each request counts, refused ones too: with OPEN_REGISTRATION it keeps
 * one network from filling the clients table, and without it from guessing initial access tokens.
 */
export class RegistrationLimit {
  readonly #counter: RateLimiterPostgres;
  readonly #digest: KeyedDigest;

  constructor(db: Database, secret: Buffer, perHour: number) {
    this.#counter = databaseCounter(db, { keyPrefix: 'registration_network', points: perHour, duration: 3600 });
    this.#digest = keyedDigest(secret, 'registration network');
  }

  /** Counts one request from `ip`'s network; the seconds to wait when it is one too many. */
  async spend(ip: string): Promise<number | undefined> {
    try {
      await this.#counter.consume(this.#digest(networkOf(ip)));
      return undefined;
    } catch (refusal) {
      if (refusal instanceof Error) throw refusal;
      return Math.max(1, Math.ceil((refusal as { msBeforeNext: number }).msBeforeNext / 1000));
    }
  }
}

function answer(ctx: Context, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  // The realm is fixed, as everywhere else: Koa's ctx.origin is the request's Origin header. A
  // request that sent no token at all gets the bare challenge (RFC 6750 §3.1: no error code then).
  if (status === 401) {
    const challenge = bearerToken(ctx) === undefined ? '' : `, error="${error}", error_description="${description.replace(/["\\]/g, '')}"`;
    ctx.set('WWW-Authenticate', `Bearer realm="gatehouse"${challenge}`);
  }
  ctx.body = { error, error_description: description };
}

function bearerToken(ctx: Context): string | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(ctx.get('authorization'));
  return match?.[1];
}

/** Reads the JSON body once; false after answering an unreadable one. */
async function readBody(ctx: Context): Promise<boolean> {
  try {
    await parseJson(ctx, async () => {});
    return true;
  } catch (error) {
    const tooLarge = (error as { status?: number }).status === 413;
    answer(ctx, tooLarge ? 413 : 400, 'invalid_request', tooLarge ? 'the request body is too large' : 'the request body could not be parsed');
    return false;
  }
}

/**
 * The client id a path segment names, read as oidc-provider's router reads it (lib/helpers/router.js):
 * decoded, or as it is when it does not decode (a stray %), so both look up the same client.
 */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Whether `token` is a live registration access token of `clientId` (read as oidc-provider reads it; spends nothing). */
async function holdsRegistrationAccessToken(provider: Provider, token: string | undefined, clientId: string): Promise<boolean> {
  if (!token) return false;
  const found = await provider.RegistrationAccessToken.find(token);
  return found?.clientId === clientId;
}

export function registrationGate(deps: RegistrationGateDependencies): Middleware {
  const registrationPath = deps.provider.pathFor('registration');
  const clientPrefix = `${registrationPath}/`;
  return async function gateRegistration(ctx: Context, next: Next) {
    const isRegistration = ctx.path === registrationPath;
    const clientSegment = ctx.path.startsWith(clientPrefix) ? ctx.path.slice(clientPrefix.length) : undefined;
    const isClient = !!clientSegment && !clientSegment.includes('/');
    if (!isRegistration && !isClient) return next();

    try {
      if (isRegistration && ctx.method === 'POST') {
        const wait = await deps.limit?.spend(ctx.ip);
        if (wait !== undefined) {
          ctx.set('Retry-After', String(wait));
          return answer(ctx, 429, 'too_many_requests', `too many registrations from this network; try again in ${wait} seconds`);
        }
        let ceiling = DEFAULT_APP_SCOPE;
        let tokenId: string | undefined;
        if (!deps.settings.open) {
          const token = await deps.tokens.findUsable(bearerToken(ctx));
          if (!token) return answer(ctx, 401, 'invalid_token', 'an initial access token from the operator is required, and this one is unknown, used up, expired or revoked');
          ceiling = token.scope;
          tokenId = token.id;
        }
        if (!(await readBody(ctx))) return;
        const body = bodyProviderReads(ctx);
        (ctx.request as { body?: unknown }).body = applyRegistrationPolicy(body, ceiling, deps.settings);
        rememberRegistration(ctx.state, { tokenId, ceiling });
      } else if (isClient && ctx.method === 'PUT') {
        const clientId = decodedSegment(clientSegment);
        // RFC 7592 §3: the app proves itself first. Without this client's registration access
        // token, oidc-provider's 401 is the only answer, whatever the body: a policy or secret
        // check made before it would tell anyone which ids are registered, an app's scope ceiling
        // and whether a secret is the app's.
        const client = await holdsRegistrationAccessToken(deps.provider, bearerToken(ctx), clientId) ? await deps.clients.find(clientId) : undefined;
        if (client?.registeredAt && client.registrationScope) {
          if (!(await readBody(ctx))) return;
          const body = { ...(bodyProviderReads(ctx) ?? {}) };
          // RFC 7592 §2.2: a client_secret sent back must be the current one. oidc-provider holds
          // only its digest, so the comparison is made here and the field goes no further.
          if (body.client_secret !== undefined) {
            if (typeof body.client_secret !== 'string' || !client.secretDigest || !matchesDigest(body.client_secret, client.secretDigest)) {
              return answer(ctx, 400, 'invalid_request', 'provided client_secret does not match the authenticated client\'s one');
            }
            delete body.client_secret;
          }
          (ctx.request as { body?: unknown }).body = applyRegistrationPolicy(body, client.registrationScope, deps.settings);
          rememberRegistration(ctx.state, { tokenId: undefined, ceiling: client.registrationScope });
        }
      }
    } catch (error) {
      if (error instanceof RegistrationRefused) return answer(ctx, 400, error.error, error.message);
      throw error;
    }

    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.status >= 300 || !body || typeof body !== 'object' || Buffer.isBuffer(body)) return;
    const answered = answeredMetadata(body);
    // A secret is shown once, at registration; later answers hold only its digest: not the secret.
    if (!isRegistration) delete answered.client_secret;
    ctx.body = answered;
  };
}
