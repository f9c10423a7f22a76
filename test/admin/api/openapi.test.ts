// The OpenAPI document is the admin API's contract: served without a token, describing every
// operation the router serves and nothing it does not, with schemas a strict validator accepts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApiRoutes } from '../../../src/admin/api/routes.js';
import type { SurfaceDependencies } from '../../../src/http/surfaces.js';
import { startTestServer, type TestServer } from '../../support/gatehouse.js';
import { adminApi, API_PATH, DocumentValidator, fetchDocument, type AdminApiClient, type OpenApiDocument } from './support.js';

let server: TestServer;
let document: OpenApiDocument;
let api: AdminApiClient;

beforeAll(async () => {
  server = await startTestServer();
  document = await fetchDocument(server);
  api = await adminApi(server);
});
afterAll(async () => { await server?.stop(); });

const METHODS = ['get', 'post', 'patch', 'delete', 'put'];

function documentedOperations(): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`)).sort();
}

describe('the OpenAPI document', () => {
  it('is served without a token, as JSON that is never cached', async () => {
    const res = await fetch(`${server.issuer}${API_PATH}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as OpenApiDocument;
    expect(body.openapi).toMatch(/^3\.1\./);
    expect(body.servers).toEqual([{ url: `${server.issuer}${API_PATH}` }]);
  });

  it('describes the token with gatehouse:admin that automation gets by client_credentials, and an admin through an admin app', () => {
    expect(document.components.securitySchemes).toEqual({
      adminToken: expect.objectContaining({
        type: 'oauth2',
        flows: {
          clientCredentials: { tokenUrl: `${server.issuer}/token`, scopes: { 'gatehouse:admin': expect.any(String) } },
          authorizationCode: {
            authorizationUrl: `${server.issuer}/auth`, tokenUrl: `${server.issuer}/token`, refreshUrl: `${server.issuer}/token`, scopes: { 'gatehouse:admin': expect.any(String) },
          },
        },
      }),
    });
    expect(document.security).toEqual([{ adminToken: ['gatehouse:admin'] }]);
  });

  it('lists exactly the operations the router serves', () => {
    const router = adminApiRoutes({ ...(server as unknown as SurfaceDependencies), operations: server.operations, config: server.config });
    const served = router.stack
      .filter((layer) => !String(layer.path).includes('*'))
      .flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path).slice(API_PATH.length).replace(/:(\w+)/g, '{$1}')}`))
      .sort();
    expect(served).toEqual(documentedOperations());
    expect(served).toHaveLength(46);
  });

  it('serves every documented operation: none answers "no such address"', async () => {
    for (const operation of documentedOperations()) {
      const [method, template] = operation.split(' ') as [string, string];
      const path = template.replace(/\{\w+\}/g, 'x');
      const res = await api.call(method, path, { token: null });
      if (template === '/openapi.json') expect(res.status).toBe(200);
      else expect(res.status, operation).toBe(401);
    }
  });

  it('documents for every operation its parameters, its body, its success and 400/401/403/404 where they can happen', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        expect(ids.has(operation.operationId), operation.operationId).toBe(false);
        ids.add(operation.operationId);
        const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        expect((operation.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name), `${method} ${path}`).toEqual(pathParams);
        if (path === '/openapi.json') continue;
        const statuses = Object.keys(operation.responses);
        expect(statuses.some((s) => /^2/.test(s)), `${method} ${path}`).toBe(true);
        expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403']));
        if (pathParams.length) expect(statuses, `${method} ${path}`).toContain('404');
        if (operation.requestBody) expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['400', '413', '415']));
        if ((operation.parameters ?? []).some((p) => p.in === 'query')) expect(statuses, `${method} ${path}`).toContain('400');
      }
    }
  });

  it('holds schemas a strict draft 2020-12 validator compiles, secrets\' digests in none of them', () => {
    const validator = new DocumentValidator(document);
    expect(() => validator.compileAll()).not.toThrow();
    expect(JSON.stringify(document)).not.toMatch(/digest/i);
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(['User', 'Session', 'Grant', 'Client', 'Api', 'SigningKey', 'AuditEvent', 'Error']));
  });

  it('takes the request bodies from the very schemas the routes validate with', async () => {
    // The document says NewUser allows no other member and needs a password of 8 or more: so does the route.
    const newUser = document.components.schemas.NewUser as { additionalProperties: boolean; required: string[]; properties: Record<string, { minLength?: number }> };
    expect(newUser.additionalProperties).toBe(false);
    expect(newUser.required).toEqual(expect.arrayContaining(['email', 'name', 'password']));
    expect(newUser.properties.password!.minLength).toBe(8);
    const extra = await api.post('/users', { email: 'extra@example.test', name: 'Extra', password: 'a long and unguessable passphrase', nickname: 'x' });
    expect(extra.status).toBe(400);
    expect(extra.body).toMatchObject({ error: 'invalid_request', field: 'nickname' });
    const short = await api.post('/users', { email: 'short@example.test', name: 'Short', password: 'short' });
    expect(short.status).toBe(400);
    expect(short.body).toMatchObject({ error: 'invalid_request', field: 'password' });
  });
});
