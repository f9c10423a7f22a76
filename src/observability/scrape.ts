// Where Prometheus reads the metrics: a listener of its own (METRICS_PORT, on METRICS_HOST,
// loopback by default), or the public port's /metrics behind a bearer token (METRICS_TOKEN). The
// numbers say how much traffic each endpoint gets and how sign-ins fail, which is nobody's business
// but the operator's, so they are never served publicly without a token.
//
// What is served is a MetricsSource: this process's registry, or — in a cluster primary — the sum
// of its workers' registries (aggregateOfWorkers), so one function serves both.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context, Next } from 'koa';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../logger.js';
import { registry } from './metrics.js';

export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

/** This process's metrics. */
export const processMetrics: MetricsSource = {
  get contentType() { return registry.contentType; },
  metrics: () => registry.metrics(),
};

/** For a cluster primary: every worker's metrics, summed (or averaged, or maxed, as each says). */
export function aggregateOfWorkers(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}

/** True when the request carries `Bearer <token>`; compared in constant time whatever its length. */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+)$/i.exec(authorization ?? '');
  if (!match) return false;
  // Digests first: timingSafeEqual wants equal lengths, and a length check would tell the token's.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}

export interface MetricsListenerSettings {
  port: number;
  host: string;
  /** When set, the listener too asks for it: it may be reachable from more than Prometheus. */
  token?: string | undefined;
}

/**
 * A listener that answers GET /metrics and nothing else. Resolves once it listens; close it with
 * `server.close()`.
 */
export async function serveMetrics(source: MetricsSource, settings: MetricsListenerSettings, logger: Logger): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') return void response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return void response.writeHead(405, { allow: 'GET, HEAD' }).end();
    if (settings.token !== undefined && !bearerMatches(request.headers.authorization, settings.token)) {
      return void response.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('Unauthorized\n');
    }
    source.metrics().then(
      (body) => response.writeHead(200, { 'content-type': source.contentType, 'cache-control': 'no-store' }).end(request.method === 'HEAD' ? undefined : body),
      (error: unknown) => {
        logger.error({ event: 'metrics.scrape_failed', err: error });
        response.writeHead(500, { 'content-type': 'text/plain' }).end('The metrics could not be collected.\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return { server, address: `http://${host}:${port}` };
}

/**
 * /metrics on the public port, for deployments that cannot open a second one: only with the bearer
 * token. Without METRICS_TOKEN it is not mounted at all, and /metrics is an unknown page there.
 */
export function publicMetricsRoute(source: MetricsSource, token: string) {
  return async function servePublicMetrics(ctx: Context, next: Next) {
    if (ctx.path !== '/metrics' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.state.route = '/metrics';
    ctx.set('Cache-Control', 'no-store');
    if (!bearerMatches(ctx.get('authorization') || undefined, token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = { error: 'invalid_token', error_description: 'Metrics need the bearer token METRICS_TOKEN.' };
      return;
    }
    ctx.type = source.contentType;
    ctx.body = await source.metrics();
  };
}
