// A person's second factors, for an administrator: listed by kind, name and dates (no secret is
// ever part of a factor here), and removed all at once when the person lost them, which also
// signs them out everywhere and tells them by mail and at their next sign-in.
import { z } from 'zod';
import type { AdminOperations } from '../operations.js';
import { defineRoute, ok, type ApiRoute } from './route.js';
import { component, userParams } from './schemas.js';
import type { Factor } from '../../factors/store.js';

const factorSchema = component('Factor', z.object({
  id: z.string(),
  kind: z.enum(['totp', 'recovery_codes', 'passkey']).meta({ description: 'totp: an authenticator app; recovery_codes: the person\'s set of single-use codes; passkey: a WebAuthn credential.' }),
  name: z.string(),
  created_at: z.iso.datetime(),
  last_used_at: z.iso.datetime().nullable(),
  remaining: z.number().int().min(0).optional().meta({ description: 'For recovery codes: how many are unused.' }),
}));

const factorListSchema = component('FactorList', z.object({ factors: z.array(factorSchema) }));

const factorResetSchema = component('FactorReset', z.object({
  removed: z.array(factorSchema.pick({ id: true, kind: true, name: true })),
  sessions_ended: z.number().int().min(0),
  grants_revoked: z.number().int().min(0),
}));

function factorJson(factor: Factor) {
  return {
    id: factor.id,
    kind: factor.kind,
    name: factor.name,
    created_at: factor.createdAt.toISOString(),
    last_used_at: factor.lastUsedAt?.toISOString() ?? null,
    ...(factor.remaining !== undefined ? { remaining: factor.remaining } : {}),
  };
}

export function factorRoutes(ops: AdminOperations['factors']): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/users/{user_id}/factors', operationId: 'listFactors', tag: 'Users',
      summary: 'List a person\'s second factors',
      description: 'Authenticator apps, the set of recovery codes and passkeys, by name and dates. No secret or public key is ever shown.',
      params: userParams,
      success: { status: 200, schema: factorListSchema, description: 'The person\'s second factors.' },
      async handle({ params }) {
        return ok({ factors: (await ops.list(params.user_id)).map(factorJson) });
      },
    }),
    defineRoute({
      method: 'post', path: '/users/{user_id}/factors/reset', operationId: 'resetFactors', tag: 'Users',
      summary: 'Remove every second factor of a person',
      description: 'For a person who lost their second factors: every authenticator app, recovery code and passkey goes, every session of theirs ends (each app signed in gets a back-channel logout token, offline access is revoked), and they are told: by mail, and once on a page at their next sign-in. They sign in with their password and can add a new passkey or authenticator app.',
      params: userParams,
      success: { status: 200, schema: factorResetSchema, description: 'What was removed and what ended.' },
      conflicts: 'The person is the caller: an administrator removes their own sign-in methods on their account pages, which ask for proof that it is them. Or second factors are not available here.',
      async handle({ params, actor }) {
        const result = await ops.reset(actor, params.user_id);
        return ok({ removed: result.removed, sessions_ended: result.sessionsEnded, grants_revoked: result.grantsRevoked });
      },
    }),
  ];
}
