// The admin API: JSON under /admin/api/v1 for automation, authenticated by Gatehouse's own access
// tokens. Each operation is declared once (users.ts, clients.ts, ...) and served here as a short
// chain: answer as JSON, authenticate, read the body, validate, run.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { SurfaceDependencies } from '../../http/surfaces.js';
import { adminApiAudience, ADMIN_API_PATH } from '../../vocabulary.js';
import type { AdminOperations } from '../operations.js';
import { apiRoutes } from './apis.js';
import { auditRoutes } from './audit.js';
import { authenticateAdmin } from './authenticate.js';
import { clientRoutes } from './clients.js';
import { answerAsJson, ApiError } from './errors.js';
import { grantRoutes } from './grants.js';
import { keyRoutes } from './keys.js';
import { registrationTokenRoutes } from './registration-tokens.js';
import { DOCUMENT_PATH, openApiDocument } from './openapi.js';
import { koaPath, readJsonBody, respond, validateInput, type ApiRoute } from './route.js';
import { sessionRoutes } from './sessions.js';
import { userRoutes } from './users.js';
import { factorRoutes } from './factors.js';

/** Every operation of the admin API, in the order the document lists them. */
export function adminApiOperations(ops: AdminOperations): ApiRoute[] {
  return [
    ...userRoutes(ops.people),
    ...factorRoutes(ops.factors),
    ...sessionRoutes(ops.sessions),
    ...grantRoutes(ops.grants),
    ...clientRoutes(ops.apps),
    ...registrationTokenRoutes(ops.registration),
    ...apiRoutes(ops.apis),
    ...keyRoutes(ops.keys),
    ...auditRoutes(ops.audit),
  ];
}

export function adminApiRoutes(deps: SurfaceDependencies): Router {
  const operations = adminApiOperations(deps.operations);
  const document = openApiDocument(operations, deps.config.issuer);
  const base = adminApiAudience(deps.config.issuer);
  const answerJson = answerAsJson(deps.logger);
  const requireAdminToken = authenticateAdmin(deps);
  const router = new Router({ prefix: ADMIN_API_PATH });

  router.get(DOCUMENT_PATH, answerJson, function serveDocument(ctx: Context) {
    ctx.body = document;
  });
  for (const route of operations) {
    const steps = [answerJson, requireAdminToken, ...(route.body ? [readJsonBody(route)] : []), validateInput(route), respond(route, base)];
    router.register(koaPath(route.path), [route.method.toUpperCase()], steps, { name: route.operationId });
  }
  // Last: what no operation above answered is still an admin API answer (JSON, no-store), not the HTML 404 page.
  router.all('/{*rest}', answerJson, function nothingHere(ctx: Context) {
    const allowed = allowedMethods(router, ctx.path);
    if (allowed.length) throw new ApiError(405, 'method_not_allowed', `Use ${allowed.join(', ')} here.`, undefined, { Allow: allowed.join(', ') });
    throw new ApiError(404, 'not_found', 'There is no admin API operation at this address.');
  });
  return router;
}

function allowedMethods(router: Router, path: string): string[] {
  const methods = router.stack
    .filter((layer) => !String(layer.path).includes('*') && layer.match(path))
    .flatMap((layer) => layer.methods);
  return [...new Set(methods)];
}
