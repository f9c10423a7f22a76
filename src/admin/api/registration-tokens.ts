// Initial access tokens for dynamic client registration (RFC 7591, POST /reg): issue, list, revoke.
import { z } from 'zod';
import type { AdminOperations } from '../operations.js';
import { registrationTokenJson } from './representations.js';
import { created, defineRoute, ok, type ApiRoute } from './route.js';
import { component } from './schemas.js';

const timestamp = z.iso.datetime();

const registrationTokenSchema = component('RegistrationToken', z.object({
  id: z.string(),
  description: z.string().nullable(),
  scope: z.string().meta({ description: 'The scopes an app registered with it may hold at most.' }),
  uses: z.number().int().meta({ description: 'Apps registered with it so far.' }),
  max_uses: z.number().int().nullable().meta({ description: 'How many apps it may register; null: any number.' }),
  expires_at: timestamp.nullable(),
  revoked_at: timestamp.nullable(),
  created_at: timestamp,
}));

const createdRegistrationTokenSchema = component('CreatedRegistrationToken', registrationTokenSchema.extend({
  token: z.string().meta({ description: 'The initial access token, shown only in this response: the app sends it as a Bearer token to the registration endpoint.' }),
}));

const newRegistrationTokenBody = component('NewRegistrationToken', z.strictObject({
  scope: z.string().max(2000).optional().meta({ description: 'Default "openid profile email offline_access"; must include openid, never gatehouse:admin.' }),
  uses: z.number().int().min(1).max(1_000_000).optional(),
  expires_in: z.number().int().min(1).optional().meta({ description: 'Seconds; default and at most a year.' }),
  description: z.string().max(200).optional(),
}));

const registrationTokenListSchema = component('RegistrationTokenList', z.object({ items: z.array(registrationTokenSchema) }));

const tokenParams = z.object({ token_id: z.uuid() });

export function registrationTokenRoutes(ops: AdminOperations['registration']): ApiRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/registration-tokens', operationId: 'createRegistrationToken', tag: 'Registration tokens',
      summary: 'Issue an initial access token for dynamic client registration',
      description: 'The token is in this response only: Gatehouse keeps nothing it could show again.',
      body: newRegistrationTokenBody,
      success: { status: 201, schema: createdRegistrationTokenSchema, description: 'The token, with its value.' },
      async handle({ body, actor }) {
        const { token, registrationToken } = await ops.create(actor, {
          scope: body.scope, uses: body.uses, expiresIn: body.expires_in, description: body.description,
        });
        return created(`/registration-tokens/${registrationToken.id}`, { ...registrationTokenJson(registrationToken), token });
      },
    }),
    defineRoute({
      method: 'get', path: '/registration-tokens', operationId: 'listRegistrationTokens', tag: 'Registration tokens',
      summary: 'List initial access tokens, newest first',
      description: 'Never their values. Tokens expired or revoked over a week ago are left out.',
      success: { status: 200, schema: registrationTokenListSchema, description: 'The tokens.' },
      async handle() {
        return ok({ items: (await ops.list()).map(registrationTokenJson) });
      },
    }),
    defineRoute({
      method: 'post', path: '/registration-tokens/{token_id}/revoke', operationId: 'revokeRegistrationToken', tag: 'Registration tokens',
      summary: 'Revoke an initial access token',
      description: 'It registers no more apps; the apps it registered stay (disable them as any other app).',
      params: tokenParams,
      success: { status: 200, schema: registrationTokenSchema, description: 'The token, revoked.' },
      async handle({ params, actor }) {
        return ok(registrationTokenJson(await ops.revoke(actor, params.token_id)));
      },
    }),
  ];
}
