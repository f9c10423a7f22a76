// Signing keys: which keys sign and verify tokens, and adding the next ones (rotation).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { KeyState } from '../../keys/signing-keys.js';
import { when } from '../../presentation/dates.js';
import { actorOf, seeOther, type ConsoleKit } from './kit.js';

/** Catalog keys. */
const STATE_WORDS: Record<KeyState, string> = {
  next: 'admin.keys.state.next',
  signing: 'admin.keys.state.signing',
  retired: 'admin.keys.state.retired',
};

export function keysRoutes(router: Router, kit: ConsoleKit): void {
  async function listKeys(ctx: Context) {
    const keys = await kit.ops.keys.listKeys();
    kit.render(ctx, 'keys', 'admin/keys', 'admin.keys.title', {
      keys: keys.map((key) => ({
        kid: key.kid,
        alg: key.alg,
        state: STATE_WORDS[key.state],
        published: key.published ? 'admin.yes' : 'admin.no',
        created: when(key.createdAt),
        activates: when(key.activatesAt),
        retired: when(key.retiredAt),
        unpublish: when(key.unpublishAt),
      })),
    });
  }

  async function rotate(ctx: Context) {
    await kit.ops.keys.rotateKeys(actorOf(ctx));
    seeOther(ctx, '/admin/keys', 'keys-rotated');
  }

  router.get('/admin/keys', ...kit.page, listKeys);
  router.post('/admin/keys/rotate', ...kit.form, rotate);
}
