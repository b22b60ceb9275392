/**
 * The RPC client (runtime spec §1.1): validate and encode the input, fill the subject, sign the
 * request, send it with no-responder retries, then decode the reply into the output or a typed error.
 */
import { type Msg, type NatsConnection, errors as natsErrors } from "@nats-io/transport-node";
import { type Context, context, trace } from "@opentelemetry/api";
import { fillSubjectTemplate, type RpcDescriptor } from "@trellis/contracts";
import { AsyncResult, type BaseError, Result } from "@trellis/result";
import type { ServerClock } from "../auth/clock.js";
import { decodeRemoteError, parseErrorEnvelope } from "../errors/decode.js";
import { TransportError, ValidationError } from "../errors/errors.js";
import { HEADERS, STATUS_ERROR } from "../headers.js";
import type { Metrics } from "../telemetry/metrics.js";
import { failSpan, SpanKind, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import { RequestSigner } from "./signer.js";

/** Per-call options. */
export interface RequestOptions {
  /** Reply timeout in ms (default: the client's, 3000). */
  timeoutMs?: number;
}

/** Options of {@link RpcClient}. */
export interface RpcClientOptions {
  /** The connection. */
  nc: NatsConnection;
  /** The caller's session key seed. */
  seed: string;
  /** Server-corrected clock for `iat`. */
  clock: ServerClock;
  /** Default timeout, ms (3000). */
  timeoutMs?: number;
  /** Extra attempts when nobody answers (2). */
  noResponderRetries?: number;
  /** Metrics sink. */
  metrics?: Metrics;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends signed RPC requests. */
export class RpcClient {
  readonly sessionKey: string;
  private readonly signer: RequestSigner;
  private readonly timeoutMs: number;
  private readonly retries: number;

  constructor(private readonly options: RpcClientOptions) {
    this.signer = new RequestSigner(options.seed, options.clock);
    this.sessionKey = this.signer.sessionKey;
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.retries = options.noResponderRetries ?? 2;
  }

  /** Calls RPC `name` described by `descriptor`, validating with `schemas`. */
  request<TOutput>(
    name: string,
    descriptor: RpcDescriptor,
    schemas: SchemaSet,
    input: unknown,
    options: RequestOptions = {},
  ): AsyncResult<TOutput, BaseError> {
    return AsyncResult.from(this.send<TOutput>(name, descriptor, schemas, input, options));
  }

  private async send<TOutput>(
    name: string,
    descriptor: RpcDescriptor,
    schemas: SchemaSet,
    input: unknown,
    options: RequestOptions,
  ): Promise<Result<TOutput, BaseError>> {
    const started = performance.now();
    const valid = schemas.validate(descriptor.input.schema, input);
    if (valid.isErr()) return this.finish(name, started, "request_encoding", Result.err(valid.error));
    let subject: string;
    try {
      subject = fillSubjectTemplate(descriptor.subject, input);
    } catch (cause) {
      return this.finish(
        name,
        started,
        "request_encoding",
        Result.err(new ValidationError([{ path: "", message: String(cause) }])),
      );
    }
    const payload = encoder.encode(JSON.stringify(input));
    const span = tracer.startSpan(`rpc.client.${name}`, { kind: SpanKind.CLIENT });
    // Inject from the span itself: without a context manager, the "active" context is always the root.
    const spanContext = trace.setSpan(context.active(), span);
    span.setAttributes({ "rpc.system": "nats", "rpc.method": name, "messaging.destination": subject });
    try {
      const reply = await this.exchange(subject, payload, options.timeoutMs ?? this.timeoutMs, spanContext);
      if (reply.isErr()) {
        failSpan(span, reply.error);
        return this.finish(name, started, "request_send", Result.err(reply.error));
      }
      const result = this.decode<TOutput>(reply.value, descriptor, schemas);
      if (result.isErr()) failSpan(span, result.error);
      return this.finish(name, started, result.isErr() ? "response" : "ok", result);
    } finally {
      span.end();
    }
  }

  private finish<T>(
    name: string,
    started: number,
    outcome: string,
    result: Result<T, BaseError>,
  ): Result<T, BaseError> {
    this.options.metrics?.rpcClientCall(
      name,
      result.isOk() ? "ok" : "error",
      (performance.now() - started) / 1000,
      outcome,
    );
    return result;
  }

  private async exchange(
    subject: string,
    payload: Uint8Array,
    timeout: number,
    traceContext: Context,
  ): Promise<Result<Msg, TransportError>> {
    for (let attempt = 0; ; attempt++) {
      try {
        // Each attempt is a new request: a fresh request id, so the replay cache never refuses a retry.
        const msg = await this.options.nc.request(subject, payload, {
          timeout,
          headers: this.signer.headers(subject, payload, traceContext),
        });
        return Result.ok(msg);
      } catch (cause) {
        if (isNoResponders(cause)) {
          if (attempt < this.retries) {
            await wait(200 * (attempt + 1));
            continue;
          }
          return Result.err(
            new TransportError("trellis.request.unavailable", `No service is answering on '${subject}'`, {
              cause,
              context: { attempts: attempt + 1 },
              hint: "Check that the service is running and connected.",
            }),
          );
        }
        if (cause instanceof natsErrors.TimeoutError) {
          return Result.err(
            new TransportError("trellis.request.failed", `No reply on '${subject}' within ${timeout} ms`, {
              cause,
              context: { reason: "timeout", timeoutMs: timeout },
            }),
          );
        }
        const text = String(cause);
        const code = /permissions violation/i.test(text)
          ? "trellis.request.denied"
          : "trellis.request.failed";
        return Result.err(new TransportError(code, `Request on '${subject}' failed: ${text}`, { cause }));
      }
    }
  }

  private decode<TOutput>(
    msg: Msg,
    descriptor: RpcDescriptor,
    schemas: SchemaSet,
  ): Result<TOutput, BaseError> {
    let body: unknown;
    try {
      body = msg.data.length === 0 ? undefined : JSON.parse(decoder.decode(msg.data));
    } catch (cause) {
      return Result.err(
        new TransportError("trellis.request.invalid_response", "The reply is not valid JSON", { cause }),
      );
    }
    if (msg.headers?.get(HEADERS.status) === STATUS_ERROR) {
      const envelope = parseErrorEnvelope(body);
      if (!envelope) {
        return Result.err(
          new TransportError("trellis.request.invalid_response", "The error reply is not a Trellis error"),
        );
      }
      return Result.err(decodeRemoteError(envelope, descriptor));
    }
    return schemas.validate<TOutput>(descriptor.output.schema, body);
  }
}

function isNoResponders(cause: unknown): boolean {
  if (cause instanceof natsErrors.NoRespondersError) return true;
  return cause instanceof natsErrors.RequestError && cause.isNoResponders();
}
