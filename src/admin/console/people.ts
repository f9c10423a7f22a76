// People: the list with its search, adding a person, and deleting one (after a confirmation,
// since pages have no JavaScript to ask). One person's own page is in person.ts.
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { User } from '../../people/users.js';
import { field, formBody, type Problem } from '../../http/forms.js';
import { when } from '../../presentation/dates.js';
import { actorOf, cursorParam, page, seeOther, state, type ConsoleKit } from './kit.js';
import { pageLinks, personStatus } from './present.js';

const SEARCH_MAX = 254;

export function personHref(id: string): string {
  return `/admin/people/${encodeURIComponent(id)}`;
}

/** Loads the person the address names into ctx.state.person, or answers 404. */
export function loadPerson(kit: ConsoleKit) {
  return async function findPerson(ctx: Context, next: Next) {
    const person = await kit.deps.users.findById(String(ctx.params.id));
    if (!person) return kit.notFound(ctx, 'people', 'person');
    ctx.state.person = person;
    await next();
  };
}

export function personOf(ctx: Context): User {
  return ctx.state.person as User;
}

export function peopleRoutes(router: Router, kit: ConsoleKit): void {
  const { ops } = kit;

  function toPeople(ctx: Context) {
    ctx.redirect('/admin/people');
    ctx.set('Cache-Control', 'no-store');
  }

  async function listPeople(ctx: Context) {
    const search = field(ctx.query, 'search').trim().slice(0, SEARCH_MAX);
    const cursor = cursorParam(ctx);
    const page = await ops.people.listUsers({ search, ...(cursor ? { cursor } : {}) });
    kit.render(ctx, 'people', 'admin/people', 'admin.people.title', {
      search,
      people: page.items.map((person) => ({
        href: personHref(person.id),
        name: person.name,
        email: person.email,
        status: personStatus(person),
        admin: person.isAdmin,
        created: when(person.createdAt),
      })),
      ...pageLinks('/admin/people', { search }, 'cursor', cursor, page.nextCursor),
    });
  }

  function showNewPerson(ctx: Context, problem?: Problem) {
    const body = formBody(ctx);
    kit.render(ctx, 'people', 'admin/person-new', 'admin.personNew.title', {
      // What was typed comes back, except the password.
      values: { email: field(body, 'email'), name: field(body, 'name'), invite: field(body, 'how') === 'invite' },
      // Offered only when invitations can be sent (SIGNUP=invite or open).
      invitations: ops.people.invitationsOn,
      problem: problem?.message,
    }, problem?.status);
  }

  async function createPerson(ctx: Context) {
    const body = formBody(ctx);
    if (field(body, 'how') === 'invite') {
      const { user } = await ops.people.inviteUser(actorOf(ctx), { email: field(body, 'email'), name: field(body, 'name') });
      return seeOther(ctx, personHref(user.id), 'person-invited');
    }
    const person = await ops.people.createUser(actorOf(ctx), {
      email: field(body, 'email'),
      name: field(body, 'name'),
      password: field(body, 'password'),
    });
    seeOther(ctx, personHref(person.id), 'person-created');
  }

  function confirmDelete(ctx: Context, problem?: Problem) {
    const person = personOf(ctx);
    const name = person.name;
    kit.render(ctx, 'people', 'admin/confirm', 'admin.personDelete.title', {
      name,
      heading: { key: 'admin.personDelete.title', values: { name } },
      facts: [{ key: 'admin.personDelete.fact', values: { name, email: person.email } }, 'admin.personDelete.undo'],
      action: `${personHref(person.id)}/delete`,
      button: { key: 'admin.personDelete.button', values: { name } },
      cancelHref: personHref(person.id),
      problem: problem?.message,
    }, problem?.status);
  }

  async function deletePerson(ctx: Context) {
    await ops.people.deleteUser(actorOf(ctx), personOf(ctx).id);
    seeOther(ctx, '/admin/people', 'person-deleted');
  }

  const person = loadPerson(kit);
  router.get('/admin', ...kit.page, toPeople);
  router.get('/admin/people', ...kit.page, listPeople);
  router.get('/admin/people/new', ...kit.page, page(showNewPerson));
  router.post('/admin/people', ...kit.form, kit.reshowOnError(showNewPerson), createPerson);
  router.get('/admin/people/:id/delete', ...kit.page, person, page(confirmDelete));
  // Deleting one's own account is refused by the operation (notOwnAccount), shown on this page.
  router.post('/admin/people/:id/delete', ...kit.form, person, kit.reshowOnError(confirmDelete), deletePerson);
}
