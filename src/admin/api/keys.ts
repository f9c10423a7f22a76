// Signing keys: see which keys sign and which are published, and rotate them.
import type { AdminOperations } from '../operations.js';
import { signingKeyJson } from './representations.js';
import { defineRoute, ok, type ApiRoute } from './route.js';
import { signingKeyListSchema } from './schemas.js';

export function keyRoutes(ops: AdminOperations['keys']): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/keys', operationId: 'listKeys', tag: 'Signing keys',
      summary: 'List signing keys',
      description: 'Every key per algorithm: the next (published, not yet signing), the signing one, and retired ones still published for tokens they signed.',
      success: { status: 200, schema: signingKeyListSchema, description: 'The keys.' },
      async handle() {
        return ok({ items: (await ops.listKeys()).map(signingKeyJson) });
      },
    }),
    defineRoute({
      method: 'post', path: '/keys/rotate', operationId: 'rotateKeys', tag: 'Signing keys',
      summary: 'Rotate the signing keys',
      description: 'Adds the next key of every algorithm. It is published at once and signs after the publication delay, so verifiers that cache the JWK Set keep working.',
      success: { status: 200, schema: signingKeyListSchema, description: 'The keys added.' },
      async handle({ actor }) {
        return ok({ items: (await ops.rotateKeys(actor)).map(signingKeyJson) });
      },
    }),
  ];
}
