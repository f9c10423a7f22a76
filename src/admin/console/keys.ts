// Signing keys: which keys sign and verify tokens, and adding the next ones (rotation).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { KeyState } from '../../keys/signing-keys.js';
import { when } from '../../presentation/dates.js';
import { actorOf, seeOther, type ConsoleKit } from './kit.js';

const STATE_WORDS: Record<KeyState, string> = {
  next: 'Next: published, signs once active',
  signing: 'Signing',
  retired: 'Retired: verifies tokens it signed',
};

export function keysRoutes(router: Router, kit: ConsoleKit): void {
  async function listKeys(ctx: Context) {
    const keys = await kit.ops.keys.listKeys();
    kit.render(ctx, 'keys', 'admin/keys', 'Signing keys', {
      keys: keys.map((key) => ({
        kid: key.kid,
        alg: key.alg,
        state: STATE_WORDS[key.state],
        published: key.published ? 'Yes' : 'No',
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
