// People: create, find, rename, disable and enable, reset a password, change the address or mail a link to
// verify it, delete. No operation marks an address verified: only the person following a mailed link does.
import { z } from 'zod';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../people/passwords.js';
import type { AdminOperations } from '../operations.js';
import { endedSessionsJson, invitationJson, pageJson, userJson } from './representations.js';
import { created, defineRoute, noContent, ok, type ApiRoute } from './route.js';
import { component, endedSessionsSchema, invitationSchema, pageQuery, queryText, userPageSchema, userParams, userSchema } from './schemas.js';

const password = z.string()
  .min(MIN_PASSWORD_LENGTH, `Use at least ${MIN_PASSWORD_LENGTH} characters.`)
  .max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters.`);

const newUserBody = component('NewUser', z.strictObject({
  email: z.email().max(254),
  name: z.string().min(1).max(200),
  given_name: z.string().max(200).optional(),
  family_name: z.string().max(200).optional(),
  password: password.meta({ description: 'Checked against common and guessable passwords; stored only as an argon2id hash.' }),
}));

const invitationBody = component('NewInvitation', z.strictObject({
  email: z.email().max(254).meta({ description: 'The invitation goes here; the person signs in with it.' }),
  name: z.string().min(1).max(200),
  given_name: z.string().max(200).optional(),
  family_name: z.string().max(200).optional(),
}));

const resetPasswordBody = component('PasswordReset', z.strictObject({
  password,
  end_sessions: z.boolean().optional().meta({ description: 'End every session of the person (default true).' }),
  revoke_offline_access: z.boolean().optional().meta({
    description: 'Revoke every grant holding a refresh token (offline_access), which signing out leaves standing: '
      + 'an app, or whoever copied its tokens, keeps no access (default true).',
  }),
}));

const changeEmailBody = component('EmailChange', z.strictObject({
  email: z.email().max(254).meta({ description: 'The new address. It is unverified until the person follows a link mailed to it.' }),
  send_verification: z.boolean().optional().meta({ description: 'Also mail the new address a link to verify it (default false).' }),
}));

const profileChangesBody = component('NameChange', z.strictObject({
  name: z.string().min(1).max(200).optional(),
  given_name: z.string().max(200).nullable().optional().meta({ description: 'Empty or null: none.' }),
  family_name: z.string().max(200).nullable().optional().meta({ description: 'Empty or null: none.' }),
}));

const listQuery = pageQuery.extend({
  search: queryText(254).optional().meta({ description: 'The start of an email address or name, in any case.' }),
});

export function userRoutes(ops: AdminOperations['people']): ApiRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/users', operationId: 'createUser', tag: 'Users',
      summary: 'Create a person',
      description: 'Never an admin: only an operator makes one (gatehouse user create … --admin).',
      body: newUserBody, bodyRequired: true,
      success: { status: 201, schema: userSchema, description: 'The person, created.' },
      conflicts: 'An account with this email already exists.',
      async handle({ body, actor }) {
        const user = await ops.createUser(actor, {
          email: body.email,
          name: body.name,
          password: body.password,
          ...(body.given_name !== undefined ? { givenName: body.given_name } : {}),
          ...(body.family_name !== undefined ? { familyName: body.family_name } : {}),
        });
        return created(`/users/${user.id}`, userJson(user));
      },
    }),
    defineRoute({
      method: 'post', path: '/invitations', operationId: 'inviteUser', tag: 'Users',
      summary: 'Invite a person',
      description: 'Creates the person without a password and mails them a link (valid 7 days) to choose one; '
        + 'the address counts as verified once they do. Until then they cannot sign in and their status is "invited". '
        + 'Only with SIGNUP=invite or SIGNUP=open; never an admin (only an operator makes one: gatehouse user invite … --admin).',
      body: invitationBody, bodyRequired: true,
      success: { status: 201, schema: invitationSchema, description: 'The person, invited; the link is only in the mail.' },
      conflicts: 'An account with this email already exists, or invitations are off (SIGNUP=closed).',
      async handle({ body, actor }) {
        const invitation = await ops.inviteUser(actor, {
          email: body.email,
          name: body.name,
          ...(body.given_name !== undefined ? { givenName: body.given_name } : {}),
          ...(body.family_name !== undefined ? { familyName: body.family_name } : {}),
        });
        return created(`/users/${invitation.user.id}`, invitationJson(invitation));
      },
    }),
    defineRoute({
      method: 'post', path: '/users/{user_id}/invitation', operationId: 'reinviteUser', tag: 'Users',
      summary: 'Send an invited person a new invitation',
      description: 'The links of earlier invitations stop working; the new one is valid 7 days.',
      params: userParams,
      success: { status: 200, schema: invitationSchema, description: 'The person, invited again.' },
      conflicts: 'The person is not waiting for an invitation (already active, or signed up), or invitations are off.',
      async handle({ params, actor }) {
        return ok(invitationJson(await ops.reinviteUser(actor, params.user_id)));
      },
    }),
    defineRoute({
      method: 'get', path: '/users', operationId: 'listUsers', tag: 'Users',
      summary: 'List or search people, oldest first',
      query: listQuery,
      success: { status: 200, schema: userPageSchema, description: 'A page of people.' },
      async handle({ query }) {
        return ok(pageJson(await ops.listUsers({ search: query.search, limit: query.limit, cursor: query.cursor }), userJson));
      },
    }),
    defineRoute({
      method: 'get', path: '/users/{user_id}', operationId: 'getUser', tag: 'Users',
      summary: 'Get a person',
      params: userParams,
      success: { status: 200, schema: userSchema, description: 'The person.' },
      async handle({ params }) {
        return ok(userJson(await ops.getUser(params.user_id)));
      },
    }),
    defineRoute({
      method: 'patch', path: '/users/{user_id}', operationId: 'updateUser', tag: 'Users',
      summary: 'Change a person\'s name, given name or family name',
      description: 'Checked as at creation; an omitted field stays. The apps whose grants release the profile get a CAEP '
        + 'token-claims-change with the names that changed (docs/security-events.md). Nothing is written or audited when nothing changes.',
      params: userParams,
      body: profileChangesBody, bodyRequired: true,
      success: { status: 200, schema: userSchema, description: 'The person, with their names as they are now.' },
      async handle({ params, body, actor }) {
        return ok(userJson(await ops.updateProfile(actor, params.user_id, {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.given_name !== undefined ? { givenName: body.given_name } : {}),
          ...(body.family_name !== undefined ? { familyName: body.family_name } : {}),
        })));
      },
    }),
    defineRoute({
      method: 'post', path: '/users/{user_id}/disable', operationId: 'disableUser', tag: 'Users',
      summary: 'Disable a person',
      description: 'The person can no longer sign in, and every session and grant they hold ends at once: their tokens stop working on the next request.',
      params: userParams,
      success: { status: 200, schema: userSchema, description: 'The person, disabled.' },
      conflicts: 'The person is the caller (an administrator acting with their own token: another administrator has to), or the last active administrator.',
      async handle({ params, actor }) {
        return ok(userJson(await ops.disableUser(actor, params.user_id)));
      },
    }),
    defineRoute({
      method: 'post', path: '/users/{user_id}/enable', operationId: 'enableUser', tag: 'Users',
      summary: 'Enable a person again',
      description: 'Nothing that disabling ended comes back.',
      params: userParams,
      success: { status: 200, schema: userSchema, description: 'The person, enabled.' },
      async handle({ params, actor }) {
        return ok(userJson(await ops.enableUser(actor, params.user_id)));
      },
    }),
    defineRoute({
      method: 'post', path: '/users/{user_id}/password', operationId: 'resetPassword', tag: 'Users',
      summary: 'Set a new password',
      description: 'Checked as at creation. Unless end_sessions is false, every session of the person ends; unless '
        + 'revoke_offline_access is false, every app\'s offline access (refresh tokens) ends too.',
      params: userParams,
      body: resetPasswordBody, bodyRequired: true,
      success: { status: 200, schema: endedSessionsSchema, description: 'What ended with the reset.' },
      conflicts: 'The person has not accepted their invitation or confirmed their sign-up yet: their first password is theirs to choose. Or the person is the caller: '
        + 'an administrator changes their own password on their account pages, which ask for the current one.',
      async handle({ params, body, actor }) {
        const ended = await ops.resetPassword(actor, params.user_id, body.password, {
          endSessions: body.end_sessions ?? true,
          revokeOfflineAccess: body.revoke_offline_access ?? true,
        });
        return ok(endedSessionsJson(ended));
      },
    }),
    defineRoute({
      method: 'post', path: '/users/{user_id}/email', operationId: 'changeEmail', tag: 'Users',
      summary: 'Give a person a new email address',
      description: 'The address is unverified until the person follows a link mailed to it (send_verification, or '
        + 'sendVerification later). The old address is told of the change; links mailed to it stop working.',
      params: userParams,
      body: changeEmailBody, bodyRequired: true,
      success: { status: 200, schema: userSchema, description: 'The person, with the new address, unverified.' },
      conflicts: 'Another account already uses this email address.',
      async handle({ params, body, actor }) {
        return ok(userJson(await ops.changeEmail(actor, params.user_id, body.email, { sendVerification: body.send_verification ?? false })));
      },
    }),
    defineRoute({
      method: 'post', path: '/users/{user_id}/verification-mail', operationId: 'sendVerification', tag: 'Users',
      summary: 'Mail a person a link to verify their address',
      description: 'The link works once, for 24 hours; following it is the only way an address becomes verified.',
      params: userParams,
      success: { status: 204, schema: null, description: 'The mail is on its way.' },
      conflicts: 'The address is already verified.',
      async handle({ params, actor }) {
        await ops.sendVerification(actor, params.user_id);
        return noContent();
      },
    }),
    defineRoute({
      method: 'delete', path: '/users/{user_id}', operationId: 'deleteUser', tag: 'Users',
      summary: 'Delete a person',
      description: 'Ends every session and revokes every grant first, then forgets every record of the person.',
      params: userParams,
      success: { status: 204, schema: null, description: 'The person is gone.' },
      conflicts: 'The person is the caller (an administrator acting with their own token: another administrator has to), or the last active administrator.',
      async handle({ params, actor }) {
        await ops.deleteUser(actor, params.user_id);
        return noContent();
      },
    }),
  ];
}

