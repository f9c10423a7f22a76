// One admin API operation, declared once: its path, the zod schemas of what it takes and answers,
// and what it does. routes.ts serves it from the declaration and openapi.ts documents it from the
// same declaration, so what is validated, served and documented cannot disagree.
import { bodyReader } from '../../http/body.js';
import type { Context, Next } from 'koa';
import type { z } from 'zod';
import type { Actor } from '../../audit/events.js';
import { actorOf } from './authenticate.js';
import { ApiError, invalidRequest } from './errors.js';

export type Method = 'get' | 'post' | 'patch' | 'delete';

export interface Reply {
  status: 200 | 201 | 204;
  body?: unknown;
  /** For 201: where the new thing can be read. */
  location?: string;
}

type Output<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteDefinition<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined> {
  method: Method;
  /** OpenAPI template under /admin/api/v1, e.g. /users/{user_id}. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** Path parameters. An id that cannot be one answers 404, as an unknown one does. */
  params?: P;
  query?: Q;
  body?: B;
  /** Whether a request must carry the body (otherwise an absent body reads as {}). */
  bodyRequired?: boolean;
  /** The success answer and its schema (null: no body). */
  success: { status: Reply['status']; schema: z.ZodType | null; description: string };
  /** Failures this operation has beyond those every operation of its kind has (400/401/403/404/413/415). */
  conflicts?: string;
  handle(input: { params: Output<P>; query: Output<Q>; body: Output<B>; actor: Actor }): Promise<Reply>;
}

export type ApiRoute = RouteDefinition<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>;

export function defineRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(route: RouteDefinition<P, Q, B>): ApiRoute {
  return route as unknown as ApiRoute;
}

export const ok = (body: unknown): Reply => ({ status: 200, body });
export const created = (location: string, body: unknown): Reply => ({ status: 201, body, location });
export const noContent = (): Reply => ({ status: 204 });

/** The Koa path for an OpenAPI template: /users/{user_id} → /users/:user_id. */
export function koaPath(template: string): string {
  return template.replace(/\{(\w+)\}/g, ':$1');
}

/** Bodies are parsed only on the operations that take one, only as JSON, and only small. */
const parseJson = bodyReader({ enableTypes: ['json'], jsonLimit: '32kb', jsonStrict: true, encoding: 'utf-8' });

function hasBody(ctx: Context): boolean {
  return ctx.request.length > 0 || ctx.get('transfer-encoding') !== '';
}

export function readJsonBody(route: ApiRoute) {
  return async function readJson(ctx: Context, next: Next) {
    if (hasBody(ctx) || route.bodyRequired) {
      if (ctx.is('application/json') !== 'application/json') {
        throw new ApiError(415, 'unsupported_media_type', 'Send the body as JSON, with Content-Type: application/json.');
      }
      return parseJson(ctx, next);
    }
    return next();
  };
}

/** Checks the path, query and body against the route's schemas; the handler sees only what passed. */
export function validateInput(route: ApiRoute) {
  return async function validate(ctx: Context, next: Next) {
    const params = route.params?.safeParse(ctx.params ?? {});
    if (params && !params.success) throw new ApiError(404, 'not_found', params.error.issues[0]!.message);
    const query = route.query?.safeParse(ctx.query);
    if (query && !query.success) throw invalidRequest(query.error);
    // No body at all reads as an empty object: the schema then says what was required.
    const body = route.body?.safeParse((ctx.request as { body?: unknown }).body ?? {});
    if (body && !body.success) throw invalidRequest(body.error);
    ctx.state.input = { params: params?.data, query: query?.data, body: body?.data };
    await next();
  };
}

/** Runs the operation; `base` is the API's absolute URL, for the Location of what it creates. */
export function respond(route: ApiRoute, base: string) {
  return async function runOperation(ctx: Context) {
    const input = ctx.state.input as { params: never; query: never; body: never };
    const reply = await route.handle({ ...input, actor: actorOf(ctx) });
    ctx.status = reply.status;
    if (reply.location) ctx.set('Location', `${base}${reply.location}`);
    if (reply.status !== 204) ctx.body = reply.body;
  };
}
