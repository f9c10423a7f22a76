// The account pages (being written).
import Router from '@koa/router';
import type { SurfaceDependencies } from '../http/surfaces.js';

export function accountRoutes(_deps: SurfaceDependencies): Router {
  return new Router();
}
