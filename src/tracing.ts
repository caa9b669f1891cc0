// The tracer the gateway uses: W3C propagation always; OpenTelemetry spans exported over OTLP/HTTP
// when OTEL_EXPORTER_OTLP_ENDPOINT is set. The SDK is loaded only then, so it costs nothing otherwise.

import { createPropagatingTracer, formatTraceparent, parseTraceparent, type SpanAttributes, type TraceSpan, type Tracer } from './trace-context.js';
import { VERSION } from './version.js';

/** OpenTelemetry export when the standard variable asks for it; propagation only otherwise. */
export async function createTracer(env: NodeJS.ProcessEnv = process.env): Promise<Tracer> {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return createPropagatingTracer();
  return createOtelTracer(env.OTEL_SERVICE_NAME ?? 'hms-tool-router');
}

async function createOtelTracer(serviceName: string): Promise<Tracer> {
  const api = await import('@opentelemetry/api');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');

  // The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) itself.
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'service.version': VERSION }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  const tracer = provider.getTracer('hms-tool-router', VERSION);
  const clean = (attributes: SpanAttributes) => Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== undefined)) as Record<string, string | number | boolean>;

  const wrap = (span: ReturnType<typeof tracer.startSpan>, tracestate: string | undefined): TraceSpan => {
    const context = span.spanContext();
    const flags = (context.traceFlags & 0xff).toString(16).padStart(2, '0');
    return {
      traceparent: formatTraceparent(context.traceId, context.spanId, flags),
      tracestate,
      recording: true,
      child(name, attributes) {
        const parent = api.trace.setSpan(api.ROOT_CONTEXT, span);
        return wrap(tracer.startSpan(name, { kind: api.SpanKind.CLIENT, attributes: clean(attributes) }, parent), tracestate);
      },
      setAttributes: (attributes) => void span.setAttributes(clean(attributes)),
      end(result) {
        if (result?.status !== undefined) span.setAttribute('http.response.status_code', result.status);
        if (result?.error !== undefined) span.setStatus({ code: api.SpanStatusCode.ERROR, message: result.error });
        span.end();
      },
    };
  };

  return {
    recording: true,
    startWebhook(incoming, name, attributes) {
      const parent = parseTraceparent(incoming.traceparent);
      const context = parent
        ? api.trace.setSpanContext(api.ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.parentId,
            traceFlags: Number.parseInt(parent.flags, 16),
            isRemote: true,
            ...(incoming.tracestate ? { traceState: api.createTraceState(incoming.tracestate) } : {}),
          })
        : api.ROOT_CONTEXT;
      return wrap(tracer.startSpan(name, { kind: api.SpanKind.SERVER, attributes: clean(attributes) }, context), parent ? incoming.tracestate : undefined);
    },
    close: () => provider.shutdown(),
  };
}
