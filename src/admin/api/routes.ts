// The admin API (being written).
import Router from '@koa/router';
import type { SurfaceDependencies } from '../../http/surfaces.js';

export function adminApiRoutes(_deps: SurfaceDependencies): Router {
  return new Router();
}
