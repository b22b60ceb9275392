/**
 * Tracing (runtime spec §6.5): OpenTelemetry spans with W3C context carried in NATS headers. Works
 * with whatever tracer provider the process registered (none means no-op spans), and still recovers
 * trace ids from valid inbound `traceparent` headers.
 */
import type { MsgHdrs } from "@nats-io/transport-node";
import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { HEADERS } from "../headers.js";

/** The tracer used by the runtime. */
export const tracer = trace.getTracer("@trellis/runtime");

const setter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get: (carrier, key) => carrier?.get(key) || undefined,
};

/** Writes the active (or given) trace context into NATS headers. */
export function injectTraceContext(headers: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, setter);
}

/** Reads the trace context carried by NATS headers. */
export function extractTraceContext(headers: MsgHdrs | undefined): Context {
  return propagation.extract(context.active(), headers, getter);
}

/** The trace id of a valid W3C `traceparent` value (version ≠ ff, non-zero ids, hex flags, four parts). */
export function traceIdFromTraceparent(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const parts = value.split("-");
  if (parts.length !== 4) return undefined;
  const [version, traceId, parentId, flags] = parts as [string, string, string, string];
  if (!/^[0-9a-f]{2}$/.test(flags)) return undefined;
  if (!/^[0-9a-f]{2}$/.test(version) || version === "ff") return undefined;
  if (!/^[0-9a-f]{32}$/.test(traceId) || /^0+$/.test(traceId)) return undefined;
  if (!/^[0-9a-f]{16}$/.test(parentId) || /^0+$/.test(parentId)) return undefined;
  return traceId;
}

/** The trace id of a span if it is recording a valid context, else the one from inbound headers. */
export function traceIdOf(span: Span | undefined, headers?: MsgHdrs): string | undefined {
  const spanContext = span?.spanContext();
  if (spanContext && trace.isSpanContextValid(spanContext)) return spanContext.traceId;
  return traceIdFromTraceparent(headers?.get(HEADERS.traceparent));
}

/** Marks a span failed with an error. */
export function failSpan(span: Span, error: unknown): void {
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

export { SpanKind };
