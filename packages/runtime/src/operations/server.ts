/**
 * The operation server (runtime spec §4.3–§4.5, architecture "Runtime decisions"): start requests and
 * control requests on queue-group subscriptions, records in the deployment's operations bucket, so any
 * replica answers any control request. Watches and waits are held by the replica that received them
 * and fed by its watch of the bucket, which sees every transition whichever replica (or job) made it;
 * open watches and waits get a keepalive frame every 10 s.
 *
 * Start: authenticate (call capabilities, reply prefix) → parse → validate input → persist the
 * accepted snapshot (revision 1, `pending`) → reply `accepted` → run the handler.
 * Control: parse (`action`, `operationId`) → authenticate (action capabilities, reply prefix) → load
 * (`OperationNotFoundError`) → service and operation (`OperationMismatchError`) → owner session
 * (`AuthError forbidden`) → the action.
 */
import {
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import { context as otelContext, trace } from "@opentelemetry/api";
import type { AnyContractModule, OperationDescriptor } from "@trellis/contracts";
import { AsyncResult, type BaseError, Result, UnexpectedError } from "@trellis/result";
import type { Caller } from "../auth/caller.js";
import {
  AuthError,
  annotateBoundaryError,
  type ErrorEnvelope,
  TransportError,
  ValidationError,
} from "../errors/errors.js";
import { HEADERS, STATUS_ERROR } from "../headers.js";
import { newUlid } from "../ids.js";
import type { CallerAuthenticator } from "../rpc/authenticator.js";
import { handleConcurrently } from "../rpc/limiter.js";
import { authenticateInbound } from "../rpc/server.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { extractTraceContext, failSpan, SpanKind, traceIdOf, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import { OperationAlreadyTerminalError, OperationMismatchError, OperationNotFoundError } from "./errors.js";
import {
  applyTransition,
  type DeferredOperation,
  isDeferred,
  notCancelable,
  OperationHandle,
  type OperationRuntime,
} from "./handle.js";
import {
  type AcceptedReply,
  type ControlAction,
  type ControlFrame,
  controlRequestSchema,
  eventTypeOfSnapshot,
  isTerminalState,
  KEEPALIVE_INTERVAL_MS,
  type OperationRecord,
  type OperationSnapshot,
} from "./model.js";
import type { OperationStore, StoredRecord } from "./store.js";

/** What an operation handler knows about the start request. */
export interface OperationContext {
  /** The authenticated caller. */
  caller: Caller;
  /** The caller's session key (the operation's owner). */
  sessionKey: string;
  /** The start request's id. */
  requestId: string;
  /** The trace id, when traced. */
  traceId?: string;
  /** The subject the start request arrived on. */
  subject: string;
  /** The operation's logical name. */
  operation: string;
}

/**
 * What a handler returns: `Result.ok(output)` completes the operation (unless it already ended),
 * `Result.ok(op.defer())` or `op.defer()` leaves it open, a terminal snapshot is kept as it is, and
 * `Result.err` or a throw fails it.
 */
export type OperationHandlerResult<TOutput, TProgress> =
  | Result<TOutput | OperationSnapshot<TOutput, TProgress> | DeferredOperation, BaseError>
  | DeferredOperation;

/** An operation handler. `TExtra` carries what the facade adds (`client`, `deps`). */
export type OperationHandler<TInput, TProgress, TOutput, TSignals, TExtra = object> = (
  args: {
    input: TInput;
    op: OperationHandle<TProgress, TOutput, TSignals>;
    context: OperationContext;
  } & TExtra,
) => OperationHandlerResult<TOutput, TProgress> | Promise<OperationHandlerResult<TOutput, TProgress>>;

/** The signal map of a handler whose operation is only known at run time. */
type AnySignals = Record<string, unknown>;

/** Options of {@link OperationServer}. */
export interface OperationServerOptions {
  /** The connection. */
  nc: NatsConnection;
  /** The contract whose owned operations are served. */
  contract: AnyContractModule;
  /** Validators of the contract's schemas. */
  schemas: SchemaSet;
  /** Authenticates callers (the same as RPCs). */
  authenticator: CallerAuthenticator;
  /** Service name: the queue group and the snapshot's `service`. */
  serviceName: string;
  /** The deployment's operations bucket (a running watch: {@link OperationStore.start}). */
  store: OperationStore;
  /** Most requests handled at once per subject (default 256). */
  maxConcurrent?: number;
  /** Interval of keepalive frames, ms (default 10 000). */
  keepaliveMs?: number;
  /** Logger. */
  logger: Logger;
  /** Metrics sink. */
  metrics?: Metrics;
}

/** An open watch or wait held by this replica. */
interface OpenStream {
  kind: "watch" | "wait";
  reply: string;
  /** Revision of the last snapshot sent. */
  revision: number;
  /** Changes seen before the first frame was sent. */
  buffered: StoredRecord[] | undefined;
  unsubscribe: () => void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ACTIONS = new Set<ControlAction>(["get", "wait", "watch", "cancel", "signal"]);

function isResult(value: unknown): value is Result<unknown, BaseError> {
  return typeof value === "object" && value !== null && "isErr" in value && "isOk" in value;
}

/** Serves the owned operations of one contract. */
export class OperationServer {
  private readonly subscriptions: Subscription[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly mounted = new Set<string>();
  private readonly streams = new Set<OpenStream>();
  private readonly runtime: OperationRuntime;
  private readonly keepalive: NodeJS.Timeout;
  private stopping = false;

  constructor(private readonly options: OperationServerOptions) {
    this.runtime = {
      store: options.store,
      service: options.serviceName,
      contract: options.contract,
      schemas: options.schemas,
      ...(options.metrics && { metrics: options.metrics }),
    };
    const operations: Record<string, OperationDescriptor> = options.contract.API.owned.operations;
    for (const [name, descriptor] of Object.entries(operations)) {
      this.serve(descriptor.controlSubject, (msg) => this.control(name, descriptor, msg));
    }
    this.keepalive = setInterval(() => this.sendKeepalives(), options.keepaliveMs ?? KEEPALIVE_INTERVAL_MS);
    this.keepalive.unref();
  }

  private descriptor(name: string): OperationDescriptor {
    const operations: Record<string, OperationDescriptor> = this.options.contract.API.owned.operations;
    const descriptor = operations[name];
    if (!descriptor) {
      throw new Error(
        `Contract '${this.options.contract.CONTRACT_ID}' does not own an operation named '${name}'`,
      );
    }
    return descriptor;
  }

  /** Starts accepting operation `name`; each accepted operation runs `handler` after the reply. */
  mount<TExtra extends object>(
    name: string,
    handler: OperationHandler<unknown, unknown, unknown, AnySignals, TExtra>,
    extra: TExtra,
  ): void {
    const descriptor = this.descriptor(name);
    if (descriptor.transfer)
      throw new Error(`Operation '${name}' receives a transfer; transfers are not supported yet`);
    if (this.stopping) throw new Error("The operation server is stopped");
    if (this.mounted.has(name)) throw new Error(`Operation '${name}' already has a handler`);
    this.mounted.add(name);
    this.options.logger.info(
      { operation: name, subject: descriptor.subject },
      `Mounting ${name} operation handler`,
    );
    this.serve(descriptor.subject, (msg) =>
      this.start(
        name,
        descriptor,
        msg,
        handler as OperationHandler<unknown, unknown, unknown, AnySignals, object>,
        extra,
      ),
    );
  }

  /**
   * A handle on operation `id` of `name`, loaded from the bucket, to drive it from anywhere (a job,
   * another replica, after a restart). It never runs the handler. `OperationNotFoundError` for an
   * unknown id, `OperationMismatchError` for an operation of another name or service.
   */
  controlHandle<TProgress, TOutput, TSignals>(
    name: string,
    id: string,
  ): AsyncResult<OperationHandle<TProgress, TOutput, TSignals>, BaseError> {
    const descriptor = this.descriptor(name);
    return AsyncResult.from(
      (async (): Promise<Result<OperationHandle<TProgress, TOutput, TSignals>, BaseError>> => {
        const resolved = await this.resolve(name, id);
        if (resolved.isErr()) return Result.err(resolved.error);
        return Result.ok(new OperationHandle(this.runtime, name, descriptor, id, resolved.value));
      })(),
    );
  }

  /**
   * Stops taking requests, tells every open watch and wait that this replica is leaving (an error frame
   * `trellis.operation.watch_closed`, so callers re-watch elsewhere) and stops the bucket watch.
   * Running handlers are not interrupted; their signal waits end. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.keepalive);
    await Promise.all(this.subscriptions.map((sub) => sub.drain().catch(() => undefined)));
    await Promise.all(this.loops);
    const leaving = new TransportError("trellis.operation.watch_closed", "The service replica is stopping");
    for (const stream of [...this.streams]) {
      this.send(stream.reply, { kind: "error", error: leaving.toEnvelope() });
      this.close(stream);
    }
    await this.options.store.stop();
  }

  /** Counts a refused or failed operation request in the error metric. */
  private countError(name: string, error: BaseError, phase: string, authReason?: string): void {
    this.options.metrics?.error({
      type: error.name,
      surface: "operation",
      direction: "server",
      operation: name,
      phase,
      ...(authReason && { authReason }),
    });
  }

  private serve(subject: string, handle: (msg: Msg) => Promise<void>): void {
    const sub = this.options.nc.subscribe(subject, { queue: this.options.serviceName });
    this.subscriptions.push(sub);
    this.loops.push(
      handleConcurrently(sub, this.options.maxConcurrent ?? 256, (msg) =>
        handle(msg).catch((cause) =>
          this.options.logger.error({ err: cause, subject }, "Operation request failed unexpectedly"),
        ),
      ),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Start

  private async start(
    name: string,
    descriptor: OperationDescriptor,
    msg: Msg,
    handler: OperationHandler<unknown, unknown, unknown, AnySignals, object>,
    extra: object,
  ): Promise<void> {
    const { logger, metrics, schemas } = this.options;
    const parent = extractTraceContext(msg.headers);
    const span = tracer.startSpan(`operation.server.${name}`, { kind: SpanKind.SERVER }, parent);
    span.setAttributes({ "rpc.system": "nats", "rpc.method": name, "messaging.destination": msg.subject });
    const traceId = traceIdOf(span, msg.headers);
    const requestId = msg.headers?.get(HEADERS.requestId) || undefined;
    const refuse = (error: BaseError, phase: string, authReason?: string) => {
      failSpan(span, error);
      this.countError(name, error, phase, authReason);
      this.replyError(msg, this.annotate(error, name, requestId, traceId));
      span.end();
    };
    const auth = await authenticateInbound(msg, descriptor.callerCapabilities, this.options.authenticator);
    if (auth.isErr()) return refuse(auth.error, "auth", auth.error.reason);
    span.setAttribute("auth.caller.type", auth.value.caller.type);
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch (cause) {
      return refuse(new UnexpectedError("The start request body is not valid JSON", { cause }), "parse");
    }
    const input = schemas.validate(descriptor.input.schema, body);
    if (input.isErr()) return refuse(input.error, "input_validation");

    const now = new Date().toISOString();
    const id = newUlid();
    const record: OperationRecord = {
      ownerSessionKey: auth.value.sessionKey,
      sequence: 0,
      signalSequence: 0,
      signals: [],
      snapshot: {
        id,
        service: this.options.serviceName,
        operation: name,
        revision: 1,
        state: "pending",
        createdAt: now,
        updatedAt: now,
      },
      requestId: auth.value.requestId,
      ...(traceId && { traceId }),
    };
    const created = await this.options.store.create(record);
    if (created.isErr()) return refuse(created.error, "start");
    metrics?.operationOutcome(name, "accepted");
    const accepted: AcceptedReply = {
      kind: "accepted",
      ref: { id, service: this.options.serviceName, operation: name },
      snapshot: record.snapshot,
    };
    this.reply(msg, accepted);
    span.end();

    const context: OperationContext = {
      caller: auth.value.caller,
      sessionKey: auth.value.sessionKey,
      requestId: auth.value.requestId,
      subject: msg.subject,
      operation: name,
      ...(traceId && { traceId }),
    };
    const op = new OperationHandle(this.runtime, name, descriptor, id, { record, revision: created.value });
    // The handler runs after the reply and outlives the request; its outcome is recorded, not replied.
    void otelContext
      .with(trace.setSpan(parent, span), () =>
        this.runHandler(name, op, handler, { ...extra, input: input.value, op, context }),
      )
      .catch((cause) =>
        logger.error({ err: cause, operation: name, operationId: id }, "Operation handler run failed"),
      );
  }

  private async runHandler(
    name: string,
    op: OperationHandle,
    handler: OperationHandler<unknown, unknown, unknown, AnySignals, object>,
    args: Parameters<OperationHandler<unknown, unknown, unknown, AnySignals, object>>[0],
  ): Promise<void> {
    const { logger } = this.options;
    const fail = async (error: BaseError, phase: string) => {
      this.countError(name, error, phase);
      const failed = await op.fail(error);
      if (failed.isErr() && !(failed.error instanceof OperationAlreadyTerminalError)) {
        logger.error(
          { err: failed.error, operation: name, operationId: op.id },
          "Operation failure could not be recorded",
        );
      }
    };
    let returned: unknown;
    try {
      returned = await handler(args);
    } catch (cause) {
      logger.error({ err: cause, operation: name, operationId: op.id }, "Handler threw unexpectedly.");
      return fail(new UnexpectedError("Handler threw", { cause }), "handler_throw");
    }
    if (isDeferred(returned)) return;
    if (!isResult(returned)) {
      logger.error({ operation: name }, "Handler did not return a Result.");
      return fail(new UnexpectedError(`Handler of '${name}' did not return a Result`), "handler_result");
    }
    if (returned.isErr()) {
      logger.warn({ err: returned.error, operation: name, operationId: op.id }, "Handler returned error.");
      return fail(returned.error, "handler_result");
    }
    const value = returned.value;
    if (isDeferred(value)) return;
    const current = await op.get();
    // Already terminal: the handler completed, failed or returned a terminal snapshot, or it was cancelled.
    if (current.isOk() && isTerminalState(current.value.state)) return;
    const completed = await op.complete(value);
    if (completed.isErr() && !(completed.error instanceof OperationAlreadyTerminalError)) {
      logger.error(
        { err: completed.error, operation: name, operationId: op.id },
        "Handler output could not complete the operation.",
      );
      await fail(completed.error, completed.error instanceof ValidationError ? "output_encoding" : "runtime");
    }
  }

  // ------------------------------------------------------------------------------------------
  // Control

  /** The record of `id` if it belongs to operation `name` of this service. */
  private async resolve(name: string, id: string): Promise<Result<StoredRecord, BaseError>> {
    const loaded = await this.options.store.load(id);
    if (loaded.isErr()) return Result.err(loaded.error);
    const stored = loaded.value;
    if (!stored) return Result.err(new OperationNotFoundError(id));
    const { service, operation } = stored.record.snapshot;
    if (service !== this.options.serviceName || operation !== name) {
      return Result.err(
        new OperationMismatchError(id, {
          expectedService: this.options.serviceName,
          expectedOperation: name,
          actualService: service,
          actualOperation: operation,
        }),
      );
    }
    return Result.ok(stored);
  }

  private capabilitiesOf(action: ControlAction, descriptor: OperationDescriptor): readonly string[] {
    switch (action) {
      case "cancel":
        return descriptor.cancelCapabilities ?? [];
      case "signal":
        return descriptor.controlCapabilities ?? [];
      default:
        return descriptor.callerCapabilities;
    }
  }

  private async control(name: string, descriptor: OperationDescriptor, msg: Msg): Promise<void> {
    if (!msg.reply) return;
    const requestId = msg.headers?.get(HEADERS.requestId) || undefined;
    const traceId = traceIdOf(undefined, msg.headers);
    const refuse = (error: BaseError, phase: string, authReason?: string) => {
      this.countError(name, error, phase, authReason);
      this.reply(msg, { kind: "error", error: this.annotate(error, name, requestId, traceId) });
    };
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch (cause) {
      return refuse(new UnexpectedError("The control request body is not valid JSON", { cause }), "parse");
    }
    const parsed = controlRequestSchema.safeParse(body);
    if (!parsed.success) {
      return refuse(new UnexpectedError("A control request needs an 'action' and an 'operationId'"), "parse");
    }
    const request = parsed.data;
    const action = request.action as ControlAction;
    if (!ACTIONS.has(action)) {
      return refuse(
        new ValidationError([{ path: "/action", message: `unknown action '${request.action}'` }]),
        "parse",
      );
    }
    const auth = await authenticateInbound(
      msg,
      this.capabilitiesOf(action, descriptor),
      this.options.authenticator,
    );
    if (auth.isErr()) return refuse(auth.error, "auth", auth.error.reason);

    // A watch or wait listens before reading, so no change between the read and the registration is lost.
    const stream =
      action === "watch" || action === "wait"
        ? this.openStream(action, msg.reply, request.operationId)
        : undefined;
    const resolved = await this.resolve(name, request.operationId);
    const owned =
      resolved.isOk() && resolved.value.record.ownerSessionKey !== auth.value.sessionKey
        ? Result.err(new AuthError("forbidden", "Only the session that started an operation may control it"))
        : resolved;
    if (owned.isErr()) {
      if (stream) this.close(stream);
      return refuse(
        owned.error,
        "control",
        owned.error instanceof AuthError ? owned.error.reason : undefined,
      );
    }
    const stored = owned.value;
    switch (action) {
      case "get":
        return this.reply(msg, { kind: "snapshot", snapshot: stored.record.snapshot });
      case "cancel": {
        const cancelled = await this.cancel(name, descriptor, stored);
        return cancelled.isErr()
          ? refuse(cancelled.error, "control")
          : this.reply(msg, { kind: "snapshot", snapshot: cancelled.value });
      }
      case "signal": {
        const accepted = await this.signal(descriptor, stored, request.signal, request.input);
        return accepted.isErr() ? refuse(accepted.error, "control") : this.reply(msg, accepted.value);
      }
      default:
        if (stream) this.begin(stream, stored);
    }
  }

  private async cancel(
    name: string,
    descriptor: OperationDescriptor,
    stored: StoredRecord,
  ): Promise<Result<OperationSnapshot, BaseError>> {
    if (!descriptor.cancel) return Result.err(notCancelable(name));
    const id = stored.record.snapshot.id;
    const changed = await this.options.store.mutate(
      id,
      (record) => {
        if (isTerminalState(record.snapshot.state)) {
          return Result.err(
            new OperationAlreadyTerminalError(id, {
              state: record.snapshot.state,
              operation: name,
              service: this.options.serviceName,
            }),
          );
        }
        return Result.ok(applyTransition(record, "cancelled", {}, new Date().toISOString()));
      },
      stored,
    );
    if (changed.isErr()) return Result.err(changed.error);
    if (!changed.value) return Result.err(new OperationNotFoundError(id));
    this.options.metrics?.operationOutcome(name, "cancelled");
    return Result.ok(changed.value.record.snapshot);
  }

  private async signal(
    descriptor: OperationDescriptor,
    stored: StoredRecord,
    signal: unknown,
    input: unknown,
  ): Promise<Result<ControlFrame, BaseError>> {
    const id = stored.record.snapshot.id;
    const terminal = (record: OperationRecord) =>
      new OperationAlreadyTerminalError(id, {
        state: record.snapshot.state,
        operation: record.snapshot.operation,
        service: this.options.serviceName,
      });
    if (isTerminalState(stored.record.snapshot.state)) return Result.err(terminal(stored.record));
    const declared =
      typeof signal === "string" && descriptor.signals ? descriptor.signals[signal] : undefined;
    if (typeof signal !== "string" || !declared || !Object.hasOwn(descriptor.signals ?? {}, signal)) {
      return Result.err(
        new ValidationError([{ path: "/signal", message: `unknown signal '${String(signal)}'` }]),
      );
    }
    const valid = this.options.schemas.validate(declared.input.schema, input);
    if (valid.isErr()) {
      return Result.err(
        new ValidationError(
          valid.error.issues.map((issue) => ({ path: `/input${issue.path}`, message: issue.message })),
        ),
      );
    }
    const acceptedAt = new Date().toISOString();
    const changed = await this.options.store.mutate(
      id,
      (record) => {
        if (isTerminalState(record.snapshot.state)) return Result.err(terminal(record));
        const sequence = record.signalSequence + 1;
        const entry = {
          operationId: id,
          sequence,
          signal,
          acceptedAt,
          ...(valid.value !== undefined && { input: valid.value }),
        };
        return Result.ok({ ...record, signalSequence: sequence, signals: [...record.signals, entry] });
      },
      stored,
    );
    if (changed.isErr()) return Result.err(changed.error);
    if (!changed.value) return Result.err(new OperationNotFoundError(id));
    const record = changed.value.record;
    return Result.ok({
      kind: "signal-accepted",
      operationId: id,
      signal,
      signalSequence: record.signalSequence,
      acceptedAt,
      snapshot: record.snapshot,
    });
  }

  // ------------------------------------------------------------------------------------------
  // Watches and waits

  private openStream(kind: "watch" | "wait", reply: string, id: string): OpenStream {
    const stream: OpenStream = { kind, reply, revision: 0, buffered: [], unsubscribe: () => undefined };
    stream.unsubscribe = this.options.store.subscribe(id, (stored) => {
      if (!stored) return this.close(stream);
      if (stream.buffered) stream.buffered.push(stored);
      else this.deliver(stream, stored.record);
    });
    this.streams.add(stream);
    return stream;
  }

  /** Sends the first frame of a watch or wait, then what changed while it was being read. */
  private begin(stream: OpenStream, stored: StoredRecord): void {
    const snapshot = stored.record.snapshot;
    const terminal = isTerminalState(snapshot.state);
    if (stream.kind === "watch" || terminal) this.send(stream.reply, { kind: "snapshot", snapshot });
    stream.revision = snapshot.revision;
    const buffered = stream.buffered ?? [];
    stream.buffered = undefined;
    if (terminal) {
      this.close(stream);
      return;
    }
    for (const later of buffered) {
      if (this.streams.has(stream)) this.deliver(stream, later.record);
    }
  }

  private deliver(stream: OpenStream, record: OperationRecord): void {
    const snapshot = record.snapshot;
    if (snapshot.revision <= stream.revision) return;
    stream.revision = snapshot.revision;
    const terminal = isTerminalState(snapshot.state);
    if (stream.kind === "watch") {
      const type = record.lastEvent?.type ?? eventTypeOfSnapshot(snapshot);
      this.send(stream.reply, {
        kind: "event",
        sequence: record.lastEvent?.sequence ?? record.sequence,
        event: type === "progress" ? { type, progress: snapshot.progress, snapshot } : { type, snapshot },
      });
    } else if (terminal) {
      this.send(stream.reply, { kind: "snapshot", snapshot });
    }
    if (terminal) this.close(stream);
  }

  private close(stream: OpenStream): void {
    stream.unsubscribe();
    this.streams.delete(stream);
  }

  private sendKeepalives(): void {
    for (const stream of this.streams) {
      if (!stream.buffered) this.send(stream.reply, { kind: "keepalive" });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Replies

  private annotate(
    error: BaseError,
    name: string,
    requestId: string | undefined,
    traceId: string | undefined,
  ) {
    return annotateBoundaryError(error, {
      surface: "operation",
      name,
      requestId,
      traceId,
      service: this.options.serviceName,
      contract: this.options.contract,
    });
  }

  /** Publishes one frame to a watch or wait; a failure (connection gone) is logged. */
  private send(subject: string, frame: ControlFrame): void {
    try {
      this.options.nc.publish(subject, encoder.encode(JSON.stringify(frame)));
    } catch (cause) {
      this.options.logger.warn({ err: cause, subject }, "Failed to send an operation frame");
    }
  }

  private reply(msg: Msg, body: unknown): void {
    try {
      msg.respond(encoder.encode(JSON.stringify(body)));
    } catch (cause) {
      this.options.logger.error({ err: cause, subject: msg.subject }, "Failed to send an operation reply");
    }
  }

  /** A start refusal: the `status: error` header and the error envelope (runtime spec §4.3 step 7). */
  private replyError(msg: Msg, envelope: ErrorEnvelope): void {
    const h = natsHeaders();
    h.set(HEADERS.status, STATUS_ERROR);
    try {
      msg.respond(encoder.encode(JSON.stringify(envelope)), { headers: h });
    } catch (cause) {
      this.options.logger.error({ err: cause, subject: msg.subject }, "Failed to send an operation reply");
    }
  }
}
