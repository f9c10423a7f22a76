// The admin console (being written).
import Router from '@koa/router';
import type { SurfaceDependencies } from '../../http/surfaces.js';

export function adminConsoleRoutes(_deps: SurfaceDependencies): Router {
  return new Router();
}
