// Initial access tokens for dynamic client registration (src/registration/): the list, issuing
// one (its value shown once, on the answer to the form itself) and revoking one.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { GatehouseError } from '../../errors.js';
import { field, formBody, type Problem } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { actorOf, page, seeOther, type ConsoleKit } from './kit.js';

const HREF = '/admin/registration-tokens';
const DAY = 24 * 3600;

function wholeNumber(value: string, what: string, fieldName: string): number | undefined {
  if (!value.trim()) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new GatehouseError('invalid_input', `${what} is a whole number.`, fieldName, { key: `admin.tokens.problem.${fieldName}` });
  return Number(value.trim());
}

export function registrationTokenRoutes(router: Router, kit: ConsoleKit): void {
  async function listTokens(ctx: Context, problem?: Problem, issued?: string) {
    const body = formBody(ctx);
    const tokens = await kit.ops.registration.list();
    kit.render(ctx, 'apps', 'admin/registration-tokens', 'admin.apps.registrationTokens', {
      open: kit.deps.config.registration.open,
      issued,
      tokens: tokens.map((t) => ({
        id: t.id,
        description: t.description ?? '',
        scope: t.scope,
        uses: t.maxUses === null ? { key: 'admin.tokens.usesCount', values: { uses: t.uses } } : { key: 'admin.tokens.usesOf', values: { uses: t.uses, max: t.maxUses } },
        expires: t.expiresAt ? when(t.expiresAt) : 'admin.tokens.never',
        revoked: t.revokedAt ? when(t.revokedAt) : undefined,
        revokeAction: `${HREF}/${t.id}/revoke`,
      })),
      values: problem ? { scope: field(body, 'scope'), uses: field(body, 'uses'), days: field(body, 'days'), description: field(body, 'description') } : { scope: '', uses: '1', days: '7', description: '' },
      problem: problem?.message,
    }, problem?.status);
  }

  async function issue(ctx: Context) {
    const body = formBody(ctx);
    const days = wholeNumber(field(body, 'days'), 'Days', 'days');
    const uses = wholeNumber(field(body, 'uses'), 'Uses', 'uses');
    const scope = field(body, 'scope').trim();
    const { token } = await kit.ops.registration.create(actorOf(ctx), {
      ...(scope ? { scope } : {}),
      ...(uses !== undefined ? { uses } : {}),
      ...(days !== undefined ? { expiresIn: days * DAY } : {}),
      description: field(body, 'description'),
    });
    // Shown on this answer only: the database keeps its digest.
    await listTokens(ctx, undefined, token);
  }

  async function revoke(ctx: Context) {
    await kit.ops.registration.revoke(actorOf(ctx), String(ctx.params.id));
    seeOther(ctx, HREF, 'registration-token-revoked');
  }

  router.get(HREF, ...kit.page, page(listTokens));
  router.post(HREF, ...kit.form, kit.reshowOnError(listTokens), issue);
  router.post(`${HREF}/:id/revoke`, ...kit.form, revoke);
}
