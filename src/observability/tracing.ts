// OpenTelemetry traces: a span per HTTP request (continuing the caller's W3C trace context), per
// database statement and per password hash, sent to an OTLP/HTTP collector. Off unless
// OTEL_EXPORTER_OTLP_ENDPOINT is set, and then only is the SDK even loaded; until then every span
// below goes to @opentelemetry/api's no-op tracer, which costs a function call.
//
// The spans are made by hand where the work is (src/observability/requests.ts, database.ts,
// src/people/passwords.ts) rather than by OpenTelemetry's auto-instrumentations: those patch
// modules through require/import hooks, which need a `--import` loader under ESM that neither
// `npm start` nor the compiled bin passes.
//
// The SDK registers process-wide (one tracer provider, context manager and propagator per
// process), so several Gatehouses in one process share one; the last to stop it shuts it down.
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import type { Logger } from '../logger.js';

export interface TracingSettings {
  /** The collector's base URL; spans are posted to <otlpEndpoint>/v1/traces as OTLP/HTTP JSON. */
  otlpEndpoint?: string | undefined;
  serviceName: string;
}

export interface Tracing {
  /** Sends every span ended so far (the rest go on the exporter's own schedule). */
  flush(): Promise<void>;
  /** Sends what is left and unregisters the SDK once no Gatehouse in the process uses it. */
  stop(): Promise<void>;
}

/** Gatehouse's tracer: the SDK's once tracing started, a no-op until then. */
export function tracer(): Tracer {
  return trace.getTracer('gatehouse');
}

interface SharedSdk { users: number; flush(): Promise<void>; shutdown(): Promise<void> }

let shared: SharedSdk | undefined;

/**
 * Whether spans go anywhere: without the SDK, a request's span, its context and the parent read
 * from its headers are no-op objects that the busiest paths need not even make.
 */
export function tracingOn(): boolean {
  return shared !== undefined;
}

/** The SDK's modules, loaded only when tracing is on. */
function loadSdk() {
  return Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
}

/** Registers the tracer provider, context manager and propagator for the whole process. */
function registerSdk(sdk: Awaited<ReturnType<typeof loadSdk>>, url: URL, serviceName: string, logger: Logger): SharedSdk {
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }] = sdk;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: url.href }) })],
  });
  // Spans find their parent through the async context: the request's span is the parent of the
  // statements and hashes its handlers await.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // Without the URL's credentials, should it carry any.
  logger.info({ event: 'tracing.started', endpoint: `${url.origin}${url.pathname}`, serviceName });
  return {
    users: 0,
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** Starts the SDK when an endpoint is configured; undefined (nothing loaded) otherwise. */
export async function startTracing(settings: TracingSettings, logger: Logger): Promise<Tracing | undefined> {
  const endpoint = settings.otlpEndpoint;
  if (!endpoint) return undefined;
  if (!shared) {
    const url = new URL(`${endpoint.replace(/\/+$/, '')}/v1/traces`);
    const modules = await loadSdk();
    // Another Gatehouse in this process may have started it while the modules loaded.
    shared ??= registerSdk(modules, url, settings.serviceName, logger);
  }
  const sdk = shared;
  sdk.users += 1;
  let stopped = false;
  return {
    flush: () => sdk.flush(),
    async stop() {
      if (stopped) return;
      stopped = true;
      sdk.users -= 1;
      if (sdk.users > 0) return;
      if (shared === sdk) shared = undefined;
      await sdk.shutdown();
    },
  };
}
