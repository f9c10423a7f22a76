// Traces as an OTLP collector receives them (issue #18): a real OTLP/HTTP receiver in this process
// decodes what Gatehouse's exporter sends, and a sign-in shows up as a request span continuing the
// caller's W3C trace context, with its database statements and its password verification inside.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest, createPerson, registerApp, type App } from '../support/flows.js';
import { startTestServer, type TestServer } from '../support/gatehouse.js';
import { formOf, UserAgent } from '../support/user-agent.js';

/** One span as OTLP/JSON carries it, its attributes flattened. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number };
  serviceName: unknown;
}

interface OtlpValue { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }
interface OtlpAttribute { key: string; value: OtlpValue }
interface OtlpExport {
  resourceSpans: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes?: OtlpAttribute[]; status?: { code?: number } }> }>;
  }>;
}

function valueOf(value: OtlpValue): unknown {
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.boolValue ?? value.doubleValue;
}

function attributesOf(list: OtlpAttribute[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]));
}

/** An OTLP/HTTP receiver: takes POST /v1/traces as JSON, as an OpenTelemetry Collector would. */
async function startReceiver() {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  /** Every export as it arrived, events and all. */
  const bodies: string[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') return void response.writeHead(404).end();
      contentTypes.push(String(request.headers['content-type']));
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      const body = JSON.parse(bodies.at(-1)!) as OtlpExport;
      for (const resourceSpans of body.resourceSpans) {
        const serviceName = attributesOf(resourceSpans.resource?.attributes)['service.name'];
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              status: span.status ?? {},
              serviceName,
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, spans, contentTypes, bodies, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const SERVER = 2;
const CLIENT = 3;

let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('starts no SDK: spans are the no-op API\'s, and nothing is sent', async () => {
    const server = await startTestServer();
    try {
      const span = trace.getTracer('probe').startSpan('probe');
      expect(span.isRecording()).toBe(false);
      span.end();
      expect((await fetch(`${server.issuer}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
    expect(receiver.spans).toEqual([]);
  });
});

describe('with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let server: TestServer;
  let app: App;
  let logs: TestServer['logs'] = [];
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpanId = '00f067aa0ba902b7';
  const refusedValue = `typed-${callerSpanId}-value`;

  beforeAll(async () => {
    server = await startTestServer({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'gatehouse-under-test' });
    app = await registerApp(server);
    const person = await createPerson(server);

    // A sign-in whose POST carries the caller's trace context; the page before it, none.
    const agent = new UserAgent(server.issuer);
    const page = await agent.follow(String((await authorizationRequest(app)).url));
    const login = formOf(page.body, /\/login$/);
    const signedIn = await agent.request(new URL(login.action, page.url).href, {
      form: { csrf: login.csrf, email: person.email, password: person.password },
      headers: { traceparent: `00-${traceId}-${callerSpanId}-01` },
    });
    expect(signedIn.status).toBe(303);
    // A statement PostgreSQL refuses, quoting the value in its message.
    await expect(server.testDb.db.raw('select cast(? as uuid)', [refusedValue])).rejects.toThrow(refusedValue);
    logs = server.logs;
    // Closing sends what is left, before the tracer provider shuts down.
    await server.stop();
  });

  it('sends OTLP/HTTP JSON under the configured service name', () => {
    expect(receiver.contentTypes.length).toBeGreaterThan(0);
    expect(receiver.contentTypes.every((type) => type.startsWith('application/json'))).toBe(true);
    expect(new Set(receiver.spans.map((span) => span.serviceName))).toEqual(new Set(['gatehouse-under-test']));
  });

  it('continues the caller\'s trace: the request span is a child of its traceparent, named by route', () => {
    const request = receiver.spans.find((span) => span.kind === SERVER && span.traceId === traceId);
    expect(request).toMatchObject({
      name: 'POST /interaction/:uid/login',
      parentSpanId: callerSpanId,
      attributes: { 'http.request.method': 'POST', 'http.route': '/interaction/:uid/login', 'http.response.status_code': 303 },
    });
    // Only the path: a query string may carry codes and states.
    expect(String(request!.attributes['url.path'])).toMatch(/^\/interaction\/[\w-]+\/login$/);
  });

  it('puts the sign-in\'s database statements and its password verification inside the request span', () => {
    const request = receiver.spans.find((span) => span.kind === SERVER && span.traceId === traceId)!;
    const children = receiver.spans.filter((span) => span.traceId === traceId && span.parentSpanId === request.spanId);
    const statements = children.filter((span) => span.kind === CLIENT);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements[0]!.attributes).toMatchObject({ 'db.system.name': 'postgresql' });
    expect(statements.map((span) => span.attributes['db.operation.name'])).toContain('select');
    // Statements carry their text with placeholders, never the values bound to them.
    expect(statements.some((span) => /\?|\$1/.test(String(span.attributes['db.query.text'])))).toBe(true);
    expect(children.map((span) => span.name)).toContain('argon2.verify');
  });

  it('marks a failed statement\'s span with its SQLSTATE, never the value PostgreSQL quoted', () => {
    const failed = receiver.spans.filter((span) => span.kind === CLIENT && span.status.code === 2);
    expect(failed.length).toBeGreaterThan(0);
    const exported = receiver.bodies.join('\n');
    expect(exported).toContain('SQLSTATE 22P02');
    expect(exported).not.toContain(refusedValue);
  });

  it('names the trace in the request\'s log line', () => {
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'request', method: 'POST', status: 303, traceId }));
  });

  it('starts a trace of its own for a request that carries none', () => {
    const roots = receiver.spans.filter((span) => span.kind === SERVER && span.traceId !== traceId);
    expect(roots.length).toBeGreaterThan(0);
    expect(roots.every((span) => span.parentSpanId === '')).toBe(true);
    expect(roots.map((span) => span.name)).toContain('GET authorization');
  });

  it('unregisters the SDK when the server stops', () => {
    const span = trace.getTracer('probe').startSpan('probe');
    expect(span.isRecording()).toBe(false);
    span.end();
  });
});
