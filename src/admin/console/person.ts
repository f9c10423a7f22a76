// One person: their details, disabling and enabling them, a new password, a new address or a link to
// verify theirs, their sessions (end one,
// or all) and the access they gave apps (revoke one grant, or everything an app holds).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { isGatehouseError } from '../../errors.js';
import type { GrantInfo } from '../../grants/store.js';
import type { SessionInfo } from '../../sessions/store.js';
import { field, formBody, type Problem } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { describeDevice } from '../../presentation/devices.js';
import { actorOf, cursorParam, page, seeOther, state, type ConsoleKit } from './kit.js';
import { loadPerson, personHref, personOf } from './people.js';
import { appNames, grantWords } from './names.js';
import { pageLinks, personStatus } from './present.js';
import { accountState } from '../../people/users.js';

export function personRoutes(router: Router, kit: ConsoleKit): void {
  const { ops } = kit;

  async function showPerson(ctx: Context, problem?: Problem) {
    const person = personOf(ctx);
    const href = personHref(person.id);
    const sessionsCursor = cursorParam(ctx, 'sessions');
    const grantsCursor = cursorParam(ctx, 'grants');
    const [sessions, grants, factors] = await Promise.all([
      ops.sessions.listSessions(person.id, sessionsCursor ? { cursor: sessionsCursor } : {}),
      ops.grants.listGrants({ userId: person.id }, grantsCursor ? { cursor: grantsCursor } : {}),
      ops.factors.list(person.id),
    ]);
    const names = await appNames(ops, [...sessions.items.flatMap((s) => s.clientIds), ...grants.items.map((g) => g.clientId)], kit.locale(ctx));
    const words = await grantWords(ops, grants.items, kit.locale(ctx));
    const ownSession = state(ctx).sessionHandle;

    const session = (s: SessionInfo) => {
      const device = describeDevice(s.userAgent, kit.locale(ctx));
      return {
        device,
        userAgent: s.userAgent ?? '',
        ip: s.ip ?? '',
        signedIn: when(s.createdAt),
        lastActive: when(s.lastActiveAt),
        apps: s.clientIds.map((id) => names.get(id) ?? id).join(', ') || '—',
        yours: s.id === ownSession,
        action: `${href}/sessions/${encodeURIComponent(s.id)}/end`,
        button: s.ip
          ? { key: 'admin.person.endSessionFrom', values: { device, ip: s.ip, when: when(s.createdAt) } }
          : { key: 'admin.person.endSession', values: { device, when: when(s.createdAt) } },
      };
    };
    const grant = (g: GrantInfo) => {
      const app = names.get(g.clientId) ?? g.clientName ?? g.clientId;
      return {
        app,
        clientId: g.clientId,
        ...words(g),
        granted: when(g.createdAt),
        lastUsed: g.lastUsedAt ? when(g.lastUsedAt) : 'admin.grants.notUsed',
        action: `${href}/grants/${encodeURIComponent(g.id)}/revoke`,
        button: { key: 'admin.person.revokeGrant', values: { app, when: when(g.createdAt) } },
      };
    };
    const apps = [...new Map(grants.items.map((g) => [g.clientId, names.get(g.clientId) ?? g.clientId])).entries()];

    kit.render(ctx, 'people', 'admin/person', 'admin.named.title', {
      name: person.name,
      verificationOn: ops.people.verificationOn,
      person: {
        name: person.name,
        givenName: person.givenName ?? '',
        familyName: person.familyName ?? '',
        email: person.email,
        emailVerified: person.emailVerified ? 'admin.yes' : 'admin.no',
        unverified: !person.emailVerified,
        role: person.isAdmin ? 'admin.people.administrator' : 'admin.grants.person',
        status: person.disabledAt ? { key: 'admin.status.disabledSince', values: { when: when(person.disabledAt) } } : personStatus(person),
        disabled: person.disabledAt !== null,
        // A pending person's first password is theirs to choose; an invited one can be invited again.
        active: accountState(person) === 'active',
        reinvite: accountState(person) === 'invited' && ops.people.invitationsOn,
        invited: person.invitedAt ? when(person.invitedAt) : undefined,
        created: when(person.createdAt),
        id: person.id,
      },
      href,
      sessions: sessions.items.map(session),
      sessionPages: pageLinks(href, { grants: grantsCursor }, 'sessions', sessionsCursor, sessions.nextCursor),
      grants: grants.items.map(grant),
      grantPages: pageLinks(href, { sessions: sessionsCursor }, 'grants', grantsCursor, grants.nextCursor),
      revokeApps: apps.map(([clientId, name]) => ({ action: `${href}/apps/${encodeURIComponent(clientId)}/revoke`, button: { key: 'admin.person.revokeApp', values: { app: name } } })),
      auditHref: `/admin/audit?user=${encodeURIComponent(person.id)}`,
      // Names and dates only: a secret is never part of a factor here.
      // Recovery codes are named by what they are, in the reader's language, not by the stored English name.
      factors: factors.map((f) => ({ name: f.kind === 'recovery_codes' ? null : f.name, kind: f.kind === 'totp' ? 'admin.factor.totp' : f.kind === 'recovery_codes' ? { key: 'admin.factor.recoveryCodes', values: { count: f.remaining ?? 0 } } : 'admin.factor.passkey', added: when(f.createdAt), lastUsed: f.lastUsedAt ? when(f.lastUsedAt) : 'admin.grants.notUsed' })),
      problem: problem?.message,
      problemField: problem?.field,
    }, problem?.status);
  }

  async function disable(ctx: Context) {
    await ops.people.disableUser(actorOf(ctx), personOf(ctx).id);
    seeOther(ctx, personHref(personOf(ctx).id), 'person-disabled');
  }

  async function resetFactors(ctx: Context) {
    await ops.factors.reset(actorOf(ctx), personOf(ctx).id);
    seeOther(ctx, personHref(personOf(ctx).id), 'factors-reset');
  }

  async function enable(ctx: Context) {
    await ops.people.enableUser(actorOf(ctx), personOf(ctx).id);
    seeOther(ctx, personHref(personOf(ctx).id), 'person-enabled');
  }

  async function resetPassword(ctx: Context) {
    const body = formBody(ctx);
    const endSessions = field(body, 'signOut') === 'yes';
    const revokeOfflineAccess = field(body, 'endOfflineAccess') === 'yes';
    await ops.people.resetPassword(actorOf(ctx), personOf(ctx).id, field(body, 'password'), { endSessions, revokeOfflineAccess });
    const done = revokeOfflineAccess
      ? (endSessions ? 'password-reset-all-ended' : 'password-reset-offline-ended')
      : (endSessions ? 'password-reset-signed-out' : 'password-reset');
    seeOther(ctx, personHref(personOf(ctx).id), done);
  }

  async function reinvite(ctx: Context) {
    await ops.people.reinviteUser(actorOf(ctx), personOf(ctx).id);
    seeOther(ctx, personHref(personOf(ctx).id), 'person-reinvited');
  }

  async function sendVerification(ctx: Context) {
    await ops.people.sendVerification(actorOf(ctx), personOf(ctx).id);
    seeOther(ctx, personHref(personOf(ctx).id), 'verification-sent');
  }

  async function rename(ctx: Context) {
    const body = formBody(ctx);
    await ops.people.updateProfile(actorOf(ctx), personOf(ctx).id, { name: field(body, 'name'), givenName: field(body, 'givenName'), familyName: field(body, 'familyName') });
    seeOther(ctx, personHref(personOf(ctx).id), 'person-renamed');
  }

  async function changeEmail(ctx: Context) {
    const body = formBody(ctx);
    const sendVerification = field(body, 'sendVerification') === 'yes';
    await ops.people.changeEmail(actorOf(ctx), personOf(ctx).id, field(body, 'email'), { sendVerification });
    seeOther(ctx, personHref(personOf(ctx).id), sendVerification ? 'email-changed-link-sent' : 'email-changed');
  }

  async function endSession(ctx: Context) {
    await ops.sessions.endSession(actorOf(ctx), personOf(ctx).id, String(ctx.params.handle));
    seeOther(ctx, personHref(personOf(ctx).id), 'session-ended');
  }

  async function endAllSessions(ctx: Context) {
    await ops.sessions.endAllSessions(actorOf(ctx), personOf(ctx).id);
    seeOther(ctx, personHref(personOf(ctx).id), 'sessions-ended');
  }

  async function revokeGrant(ctx: Context) {
    const person = personOf(ctx);
    const grant = await ops.grants.getGrant(String(ctx.params.grantId)).catch((error: unknown) => {
      if (isGatehouseError(error, 'not_found')) return undefined;
      throw error;
    });
    // Only a grant of the person this page is about: an address naming another's is not found.
    if (!grant || grant.userId !== person.id) return showPerson(ctx, { status: 404, message: 'admin.grants.notFound' });
    await ops.grants.revokeGrant(actorOf(ctx), grant.id);
    seeOther(ctx, personHref(person.id), 'grant-revoked');
  }

  async function revokeApp(ctx: Context) {
    await ops.grants.revokeUserClientGrants(actorOf(ctx), personOf(ctx).id, String(ctx.params.clientId));
    seeOther(ctx, personHref(personOf(ctx).id), 'app-access-revoked');
  }

  const person = loadPerson(kit);
  const again = kit.reshowOnError(showPerson);
  router.get('/admin/people/:id', ...kit.page, person, page(showPerson));
  // An admin's acts on their own account (disabling, a new password, removing sign-in methods) are
  // refused by the operations themselves (notOwnAccount in src/admin/people.ts), for the admin API
  // too: the page shows their refusal.
  router.post('/admin/people/:id/disable', ...kit.form, person, again, disable);
  router.post('/admin/people/:id/enable', ...kit.form, person, again, enable);
  router.post('/admin/people/:id/factors/reset', ...kit.form, person, again, resetFactors);
  router.post('/admin/people/:id/password', ...kit.form, person, again, resetPassword);
  router.post('/admin/people/:id/invitation', ...kit.form, person, again, reinvite);
  router.post('/admin/people/:id/verification-mail', ...kit.form, person, again, sendVerification);
  router.post('/admin/people/:id/email', ...kit.form, person, again, changeEmail);
  router.post('/admin/people/:id/name', ...kit.form, person, again, rename);
  router.post('/admin/people/:id/sessions/end-all', ...kit.form, person, again, endAllSessions);
  router.post('/admin/people/:id/sessions/:handle/end', ...kit.form, person, again, endSession);
  router.post('/admin/people/:id/grants/:grantId/revoke', ...kit.form, person, again, revokeGrant);
  router.post('/admin/people/:id/apps/:clientId/revoke', ...kit.form, person, again, revokeApp);
}
