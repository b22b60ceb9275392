/**
 * The RPC server (runtime spec §1.2): one queue-group subscription per method so replicas share load,
 * requests handled concurrently up to a bound, and the pipeline parse → validate input →
 * authenticate → reply-prefix check → handler → validate output → respond.
 */
import {
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import { type Context, context as otelContext, type Span, trace } from "@opentelemetry/api";
import type { ContractModule, RpcDescriptor } from "@trellis/contracts";
import { type BaseError, Result, UnexpectedError } from "@trellis/result";
import type { Caller } from "../auth/caller.js";
import { AuthError, annotateBoundaryError, type ErrorEnvelope, TransportError } from "../errors/errors.js";
import { HEADERS, STATUS_ERROR } from "../headers.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { extractTraceContext, failSpan, SpanKind, traceIdOf, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import { type AuthenticatedRequest, type CallerAuthenticator, SYSTEM_CALLER } from "./authenticator.js";
import { handleConcurrently } from "./limiter.js";

/** What a handler knows about the request. */
export interface RpcContext {
  /** The authenticated caller. */
  caller: Caller;
  /** The caller's session key (absent for `authRequired: false`). */
  sessionKey?: string;
  /** The request's id. */
  requestId?: string;
  /** The trace id, when traced. */
  traceId?: string;
  /** The subject the request arrived on. */
  subject: string;
  /** The logical method name. */
  method: string;
}

/** A value a handler may return: a `Result`, synchronously or not. */
export type HandlerResult<T> = Result<T, BaseError> | Promise<Result<T, BaseError>>;

/** An RPC handler. `TExtra` carries what the facade adds (`client`, `deps`). */
export type RpcHandler<TInput, TOutput, TExtra = object> = (
  args: { input: TInput; context: RpcContext } & TExtra,
) => HandlerResult<TOutput>;

/** Options of {@link RpcServer}. */
export interface RpcServerOptions {
  /** The connection. */
  nc: NatsConnection;
  /** The contract whose owned RPCs are served. */
  contract: ContractModule;
  /** Validators of the contract's schemas. */
  schemas: SchemaSet;
  /** Authenticates callers. */
  authenticator: CallerAuthenticator;
  /** Service name: the queue group and the `service` of error contexts. */
  serviceName: string;
  /** Most requests handled at once per method (default 256). */
  maxConcurrent?: number;
  /** Logger. */
  logger: Logger;
  /** Metrics sink. */
  metrics?: Metrics;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Authenticates an inbound request from its headers and checks that replies go to the caller's own
 * inbox (`reply_subject_mismatch` otherwise). Shared by RPCs, feeds and operations.
 */
export async function authenticateInbound(
  msg: Msg,
  requiredCapabilities: readonly string[],
  authenticator: CallerAuthenticator,
): Promise<Result<AuthenticatedRequest, AuthError>> {
  const h = msg.headers;
  const auth = await authenticator.authenticate({
    subject: msg.subject,
    payload: msg.data,
    sessionKey: h?.get(HEADERS.sessionKey) || undefined,
    proof: h?.get(HEADERS.proof) || undefined,
    iat: h?.get(HEADERS.iat) || undefined,
    requestId: h?.get(HEADERS.requestId) || undefined,
    requiredCapabilities,
  });
  if (auth.isErr()) return auth;
  const { inboxPrefix } = auth.value;
  if (!msg.reply?.startsWith(`${inboxPrefix}.`)) {
    return Result.err(new AuthError("reply_subject_mismatch", `Replies must go to '${inboxPrefix}.*'`));
  }
  return auth;
}

/** Serves the owned RPC methods of one contract. */
export class RpcServer {
  private readonly subscriptions: Subscription[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly mounted = new Set<string>();

  constructor(private readonly options: RpcServerOptions) {}

  /** Starts serving `method` with `handler`. `extra` is merged into every handler's arguments. */
  mount<TInput, TOutput, TExtra extends object>(
    method: string,
    handler: RpcHandler<TInput, TOutput, TExtra>,
    extra: TExtra,
  ): void {
    const descriptor = this.options.contract.API.owned.rpc[method];
    if (!descriptor) {
      throw new Error(
        `Contract '${this.options.contract.CONTRACT_ID}' does not own an RPC named '${method}'`,
      );
    }
    if (this.mounted.has(method)) throw new Error(`RPC '${method}' already has a handler`);
    this.mounted.add(method);
    const subject = descriptor.subject.replace(/\{[^}]+\}/g, "*");
    this.options.logger.info({ method, subject }, `Mounting ${method} RPC handler`);
    const sub = this.options.nc.subscribe(subject, { queue: this.options.serviceName });
    this.subscriptions.push(sub);
    this.loops.push(
      handleConcurrently(sub, this.options.maxConcurrent ?? 256, (msg) =>
        this.handle(method, descriptor, msg, handler as RpcHandler<unknown, unknown, object>, extra),
      ),
    );
  }

  /** Stops receiving requests and lets in-flight ones finish. */
  async stop(): Promise<void> {
    await Promise.all(this.subscriptions.map((sub) => sub.drain().catch(() => undefined)));
    await Promise.all(this.loops);
  }

  private async handle(
    method: string,
    descriptor: RpcDescriptor,
    msg: Msg,
    handler: RpcHandler<unknown, unknown, object>,
    extra: object,
  ): Promise<void> {
    const started = performance.now();
    const parent = extractTraceContext(msg.headers);
    const span = tracer.startSpan(`rpc.server.${method}`, { kind: SpanKind.SERVER }, parent);
    span.setAttributes({ "rpc.system": "nats", "rpc.method": method, "messaging.destination": msg.subject });
    const traceId = traceIdOf(span, msg.headers);
    const requestId = msg.headers?.get(HEADERS.requestId) || undefined;
    const spanContext = trace.setSpan(parent, span);
    const result = await this.run(method, descriptor, msg, handler, extra, {
      traceId,
      requestId,
      span,
      spanContext,
    });
    if (result.isErr()) failSpan(span, result.error);
    this.respond(
      msg,
      result.isOk()
        ? { body: result.value }
        : { error: this.annotate(result.error, method, requestId, traceId) },
    );
    span.end();
    this.options.metrics?.rpcServerRequest(
      method,
      result.isOk() ? "ok" : "error",
      (performance.now() - started) / 1000,
    );
  }

  private async run(
    method: string,
    descriptor: RpcDescriptor,
    msg: Msg,
    handler: RpcHandler<unknown, unknown, object>,
    extra: object,
    meta: {
      traceId?: string;
      requestId?: string;
      span: Span;
      spanContext: Context;
    },
  ): Promise<Result<unknown, BaseError>> {
    const { schemas, authenticator, logger, metrics } = this.options;
    let input: unknown;
    try {
      input = JSON.parse(decoder.decode(msg.data));
    } catch (cause) {
      metrics?.error({
        type: "UnexpectedError",
        surface: "rpc",
        direction: "server",
        operation: method,
        phase: "parse",
      });
      return Result.err(new UnexpectedError("The request body is not valid JSON", { cause }));
    }
    const parsed = schemas.validate(descriptor.input.schema, input);
    if (parsed.isErr()) {
      metrics?.error({
        type: "ValidationError",
        surface: "rpc",
        direction: "server",
        operation: method,
        phase: "input_validation",
      });
      return Result.err(parsed.error);
    }
    let context: RpcContext = { caller: SYSTEM_CALLER, subject: msg.subject, method };
    if (descriptor.authRequired) {
      const auth = await authenticateInbound(msg, descriptor.callerCapabilities, authenticator);
      if (auth.isErr()) {
        metrics?.error({
          type: "AuthError",
          surface: "rpc",
          direction: "server",
          operation: method,
          phase: "auth",
          authReason: auth.error.reason,
        });
        return Result.err(auth.error);
      }
      const { caller, sessionKey, requestId } = auth.value;
      context = { caller, sessionKey, requestId, subject: msg.subject, method };
      meta.span.setAttribute("auth.caller.type", caller.type);
    }
    if (meta.traceId) context.traceId = meta.traceId;
    let result: Result<unknown, BaseError>;
    try {
      // Run the handler inside the server span so its outbound calls continue this trace.
      result = await otelContext.with(meta.spanContext, () =>
        handler({ ...extra, input: parsed.value, context }),
      );
    } catch (cause) {
      logger.error({ err: cause, method }, "Handler threw unexpectedly.");
      metrics?.error({
        type: "UnexpectedError",
        surface: "rpc",
        direction: "server",
        operation: method,
        phase: "handler_throw",
      });
      return Result.err(new UnexpectedError("Handler threw", { cause }));
    }
    if (!result || typeof result !== "object" || !("isErr" in result)) {
      logger.error({ method }, "Handler did not return a Result.");
      return Result.err(new UnexpectedError(`Handler of '${method}' did not return a Result`));
    }
    if (result.isErr()) {
      logger.warn({ err: result.error, method }, "Handler returned error.");
      metrics?.error({
        type: result.error.name,
        surface: "rpc",
        direction: "server",
        operation: method,
        phase: "handler_result",
      });
      return result;
    }
    const output = schemas.validate(descriptor.output.schema, result.value);
    if (output.isErr()) {
      logger.error({ issues: output.error.issues, method }, "Handler output failed its schema.");
      metrics?.error({
        type: "ValidationError",
        surface: "rpc",
        direction: "server",
        operation: method,
        phase: "output_encoding",
      });
      return Result.err(output.error);
    }
    return output;
  }

  /** Adds the boundary context (§0.1) to an error's envelope. */
  private annotate(
    error: BaseError,
    method: string,
    requestId: string | undefined,
    traceId: string | undefined,
  ): ErrorEnvelope {
    return annotateBoundaryError(error, {
      surface: "method",
      name: method,
      requestId,
      traceId,
      service: this.options.serviceName,
      contract: this.options.contract,
    });
  }

  private respond(msg: Msg, reply: { body: unknown } | { error: ErrorEnvelope }): void {
    if (!msg.reply) return;
    try {
      if ("body" in reply) {
        msg.respond(encoder.encode(JSON.stringify(reply.body)));
        return;
      }
      const h = natsHeaders();
      h.set(HEADERS.status, STATUS_ERROR);
      let body: string;
      try {
        body = JSON.stringify(reply.error);
      } catch {
        body = JSON.stringify({ type: "UnexpectedError", message: "Failed to serialize error" });
      }
      msg.respond(encoder.encode(body), { headers: h });
    } catch (cause) {
      this.options.logger.error({ err: cause, subject: msg.subject }, "Failed to send RPC response");
      const h = natsHeaders();
      h.set(HEADERS.status, STATUS_ERROR);
      const error = new TransportError("trellis.rpc.response_send_failed", "The reply could not be sent", {
        cause,
      });
      try {
        msg.respond(encoder.encode(JSON.stringify(error.toEnvelope())), { headers: h });
      } catch {
        // The connection itself is gone; the caller will time out.
      }
    }
  }
}
