import {
  type Attributes,
  context,
  DiagLogLevel,
  diag,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Logger } from './logger.js';

export { SpanKind };

/** The carrier of a span's context between nodes (W3C `traceparent`, and `tracestate` when set). */
export type TraceCarrier = Record<string, string>;

/** Where spans go, from the configuration (OTEL_* variables). */
export interface TracingOptions {
  /** The OTLP/HTTP endpoint of a collector (`<endpoint>/v1/traces`); undefined: tracing off. */
  endpoint: string | undefined;
  serviceName: string;
  /** The share of new traces kept (0 to 1); a trace begun elsewhere keeps its sampling. */
  sampleRatio: number;
  /** Milliseconds between two exports. */
  exportDelayMs: number;
  nodeId: string;
  version: string;
}

const tracer = trace.getTracer('voicehelper');

/**
 * Off by default, and then every helper here is a plain call: no span is made, nothing is
 * carried between nodes. One process is one node, so the switch is the process's.
 */
let enabled = false;

/**
 * Starts exporting spans over OTLP/HTTP when an endpoint is configured (the process's
 * global provider, context manager and W3C propagator); returns what flushes and stops it
 * at shutdown. The spans are made by hand at the server's own steps (socket events, HTTP
 * requests, the limit check, the group commit, the relay, retrieval): automatic
 * instrumentation of pg and ioredis needs an ESM loader hook at process start, which the
 * server does not install.
 */
export function startTracing(options: TracingOptions, logger: Logger): () => Promise<void> {
  if (options.endpoint === undefined) return async () => undefined;
  diag.setLogger(
    {
      error: (message, ...args) => logger.warn({ args }, `tracing: ${message}`),
      warn: (message, ...args) => logger.warn({ args }, `tracing: ${message}`),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': options.serviceName,
      'service.instance.id': options.nodeId,
      'service.version': options.version,
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` }),
        scheduledDelayMillis: options.exportDelayMs,
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  logger.info({ endpoint: options.endpoint, sampleRatio: options.sampleRatio }, 'tracing on (OTLP/HTTP)');
  return async () => {
    enabled = false;
    await provider.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'flushing spans failed'));
  };
}

/** Whether spans are made (for a caller that would otherwise build attributes for nothing). */
export function tracingOn(): boolean {
  return enabled;
}

/**
 * Runs `work` inside a span named `name` (the active span's child), ended when `work`
 * settles and marked failed if it throws; with tracing off, runs `work` alone.
 */
export async function traced<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span | undefined) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  if (!enabled) return work(undefined);
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks the active span failed (an event answered with an error code rather than thrown). */
export function activeFailed(message: string): void {
  if (enabled) trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** Marks a span failed with the error's message. */
export function failed(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** Starts a span that the caller ends (for work whose end is not one promise), as the active span's child. */
export function startSpan(name: string, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL): Span | undefined {
  return enabled ? tracer.startSpan(name, { kind, attributes }) : undefined;
}

/** Runs `work` with `span` active, so that the spans it starts are its children. */
export function within<T>(span: Span | undefined, work: () => T): T {
  return span === undefined ? work() : context.with(trace.setSpan(context.active(), span), work);
}

/** The active span's context as a carrier for another node (undefined when tracing is off or nothing is active). */
export function carrier(): TraceCarrier | undefined {
  if (!enabled || trace.getActiveSpan() === undefined) return undefined;
  const found: TraceCarrier = {};
  propagation.inject(context.active(), found);
  return Object.keys(found).length > 0 ? found : undefined;
}

/**
 * Runs `work`, done on this node for a span of another node (a message delivered here after
 * it was committed there), in a span whose parent is that other span, from its carrier: both
 * are one trace. With tracing off or no carrier, runs `work` alone.
 */
export function continued<T>(
  name: string,
  from: TraceCarrier | undefined,
  attributes: Attributes,
  kind: SpanKind,
  work: () => T,
): T {
  if (!enabled || from === undefined) return work();
  const span = tracer.startSpan(name, { kind, attributes }, propagation.extract(ROOT_CONTEXT, from));
  try {
    return work();
  } finally {
    span.end();
  }
}
