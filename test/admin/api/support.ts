// Talking to the admin API as automation does: a token from the client_credentials grant, JSON
// over real HTTP. Every answer is checked against the OpenAPI document the server publishes: the
// status must be documented for the operation, and the body must validate against its schema.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'vitest';
import type { TestServer } from '../../support/gatehouse.js';

// ajv-formats is CommonJS: its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

export const API_PATH = '/admin/api/v1';
export const ADMIN_SCOPE = 'gatehouse:admin';

type JsonObject = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: string;
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, { operationId: string; parameters?: Array<{ name: string; in: string; required: boolean }>; requestBody?: JsonObject; responses: Record<string, { content?: { 'application/json': { schema: JsonObject } } }> }>>;
  components: { schemas: Record<string, JsonObject>; securitySchemes: Record<string, JsonObject> };
  [key: string]: unknown;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
  /** Milliseconds from sending to the whole answer read. */
  ms: number;
  /** The documented operation this request matched ("GET /users/{user_id}"), if any. */
  operation: string | undefined;
}

const SCHEMA_ID = 'https://gatehouse.test/admin-api-schemas';

/** The document's schemas under an id ajv can resolve, in draft 2020-12 with formats. */
export class DocumentValidator {
  readonly #ajv = new Ajv2020({ strict: true, allErrors: true });
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #templates: Array<{ template: string; pattern: RegExp }>;

  constructor(readonly document: OpenApiDocument) {
    addFormats(this.#ajv);
    const schemas = JSON.parse(JSON.stringify(document.components.schemas).replaceAll('#/components/schemas/', '#/$defs/')) as JsonObject;
    this.#ajv.addSchema({ $id: SCHEMA_ID, $defs: schemas });
    this.#templates = Object.keys(document.paths).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
    }));
  }

  /** Compiles every component schema; throws on anything ajv in strict mode does not accept. */
  compileAll(): void {
    for (const name of Object.keys(this.document.components.schemas)) this.schema({ $ref: `#/components/schemas/${name}` });
  }

  templateOf(path: string): string | undefined {
    return this.#templates.find(({ pattern }) => pattern.test(path))?.template;
  }

  private schema(schema: JsonObject): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.#compiled.get(key);
    if (!validate) {
      const resolved = typeof schema.$ref === 'string' ? { $ref: schema.$ref.replace('#/components/schemas/', `${SCHEMA_ID}#/$defs/`) } : schema;
      validate = this.#ajv.compile(resolved);
      this.#compiled.set(key, validate);
    }
    return validate;
  }

  /** Asserts the answer is one the document describes for this request. */
  check(method: string, path: string, res: { status: number; body: unknown; text: string; headers: Headers }): string | undefined {
    const template = this.templateOf(path);
    const operation = template ? this.document.paths[template]?.[method.toLowerCase()] : undefined;
    const name = `${method} ${template ?? path} → ${res.status}`;
    expect(res.headers.get('cache-control'), name).toBe('no-store');
    if (!operation) {
      // Outside every documented operation (an unknown address or method): still a JSON error.
      expect(res.status, name).toBeGreaterThanOrEqual(400);
      this.expectValid(this.schema({ $ref: '#/components/schemas/Error' }), res.body, name);
      return undefined;
    }
    const documented = operation.responses[String(res.status)];
    expect(documented, `${name} is not a documented answer: ${res.text.slice(0, 300)}`).toBeDefined();
    const schema = documented!.content?.['application/json'].schema;
    if (schema) this.expectValid(this.schema(schema), res.body, name);
    else expect(res.text, `${name} has no body`).toBe('');
    return `${method.toUpperCase()} ${template}`;
  }

  private expectValid(validate: ValidateFunction, body: unknown, name: string): void {
    const valid = validate(body);
    expect(valid, `${name}: ${this.#ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`).toBe(true);
  }
}

export interface CallOptions {
  /** The bearer token; null sends none. Defaults to the client's admin token. */
  token?: string | null;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as it is, with contentType. */
  raw?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
}

/** An admin API caller: an admin client and its token. */
export class AdminApiClient {
  readonly token: string;

  constructor(
    readonly server: TestServer,
    readonly validator: DocumentValidator,
    readonly admin: AdminClient,
  ) {
    this.token = admin.token;
  }

  async call<T = any>(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    const token = options.token === undefined ? this.token : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = options.contentType ?? 'application/json';
    } else if (options.raw !== undefined) {
      body = options.raw;
      if (options.contentType) headers['content-type'] = options.contentType;
    }
    const started = performance.now();
    const res = await fetch(`${this.server.issuer}${API_PATH}${path}`, { method, headers, body });
    const text = await res.text();
    const ms = performance.now() - started;
    let parsed: unknown;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
    const answer = { status: res.status, headers: res.headers, body: parsed, text };
    const operation = this.validator.check(method, path.split('?')[0]!, answer);
    // No waiting for the change feed here: an admin act answers only once every instance's caches
    // have heard of it (AdminOperations, the change feed's barrier), and these tests hold it to that.
    return { ...answer, body: parsed as T, ms, operation };
  }

  get = <T = any>(path: string, options?: CallOptions) => this.call<T>('GET', path, options);
  post = <T = any>(path: string, json?: unknown, options: CallOptions = {}) => this.call<T>('POST', path, { ...options, ...(json === undefined ? {} : { json }) });
  patch = <T = any>(path: string, json?: unknown, options: CallOptions = {}) => this.call<T>('PATCH', path, { ...options, ...(json === undefined ? {} : { json }) });
  delete = <T = any>(path: string, options?: CallOptions) => this.call<T>('DELETE', path, options);
}

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** An access token by the client_credentials grant, as automation gets one. */
export async function clientCredentialsToken(server: TestServer, clientId: string, secret: string, params: Record<string, string> = { scope: ADMIN_SCOPE }): Promise<string> {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
  });
  const body = (await res.json()) as { access_token?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

export interface AdminClient { clientId: string; clientSecret: string; token: string }

/** An automation client made as `gatehouse client create --client-credentials --admin` makes one, and its token. */
export async function adminClient(server: TestServer, name = 'Automation'): Promise<AdminClient> {
  const { client, clientSecret } = await server.stores.clients.create({ name, clientCredentials: true, admin: true });
  return { clientId: client.clientId, clientSecret: clientSecret!, token: await clientCredentialsToken(server, client.clientId, clientSecret!) };
}

export async function fetchDocument(server: TestServer): Promise<OpenApiDocument> {
  const res = await fetch(`${server.issuer}${API_PATH}/openapi.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as OpenApiDocument;
}

/** An admin API client for this server, with a fresh admin client and token. */
export async function adminApi(server: TestServer): Promise<AdminApiClient> {
  return new AdminApiClient(server, new DocumentValidator(await fetchDocument(server)), await adminClient(server));
}

/** The path segment for an API identifier. */
export const segment = (value: string) => encodeURIComponent(value);
