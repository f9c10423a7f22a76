// The admin console: server-rendered pages under /admin over AdminOperations, for administrators
// signed in through the normal login. /admin/api/… is the admin API's: no route here matches it.
import Router from '@koa/router';
import type { SurfaceDependencies } from '../../http/surfaces.js';
import { apisRoutes } from './apis.js';
import { appRoutes } from './app.js';
import { appsRoutes } from './apps.js';
import { auditRoutes } from './audit.js';
import { keysRoutes } from './keys.js';
import { ConsoleKit } from './kit.js';
import { peopleRoutes } from './people.js';
import { personRoutes } from './person.js';
import { registrationTokenRoutes } from './registration-tokens.js';

export function adminConsoleRoutes(deps: SurfaceDependencies): Router {
  const router = new Router();
  const kit = new ConsoleKit(deps);
  // Lists and "new" forms before the pages of one item, whose :id would also match "new".
  peopleRoutes(router, kit);
  personRoutes(router, kit);
  appsRoutes(router, kit);
  registrationTokenRoutes(router, kit);
  appRoutes(router, kit);
  apisRoutes(router, kit);
  keysRoutes(router, kit);
  auditRoutes(router, kit);
  return router;
}
