/**
 * The caller side of operations (runtime spec §4.3, §4.6): `start` (a signed request answered with the
 * accepted snapshot, or the real error of a refused start), `resume(ref)`, and `OperationRef` with
 * `get`, `wait`, `watch`, `cancel` and `signal` over `<subject>.control`. `watch` listens on an inbox
 * of the caller's own prefix; a stream that stays silent longer than three keepalive intervals is
 * treated as lost. The builder (`input(x).onAccepted(…)….start()`) delivers `accepted` exactly once,
 * then the watched events in order.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { clientInboxPrefix, type OperationDescriptor, type RpcDescriptor } from "@trellis/contracts";
import { AsyncResult, type BaseError, Result } from "@trellis/result";
import { TransportError } from "../errors/errors.js";
import type { RpcClient } from "../rpc/client.js";
import type { RequestSigner } from "../rpc/signer.js";
import type { Logger } from "../telemetry/logger.js";
import { SchemaSet } from "../validation/schemas.js";
import { decodeOperationError, OPERATION_DECLARED_ERRORS } from "./errors.js";
import {
  acceptedReplySchema,
  type ControlRequest,
  controlFrameSchema,
  eventTypeOfSnapshot,
  isTerminalState,
  KEEPALIVE_INTERVAL_MS,
  type OperationEvent,
  type OperationRefData,
  type OperationSnapshot,
} from "./model.js";

/** What a `signal` answered. */
export interface SignalAccepted<TOutput = unknown, TProgress = unknown> {
  /** The operation. */
  operationId: string;
  /** The signal's name. */
  signal: string;
  /** Its sequence (1, 2, …). */
  signalSequence: number;
  /** When it was accepted (ISO 8601). */
  acceptedAt: string;
  /** The operation's snapshot (signals do not change its revision). */
  snapshot: OperationSnapshot<TOutput, TProgress>;
}

/**
 * A live watch: the current state first (as an event: `pending` → `accepted`, `running` → `started`,
 * terminal → its type), then every later event; iteration ends after the terminal event. It never
 * throws: `error` tells why it ended early.
 */
export interface OperationWatch<TOutput = unknown, TProgress = unknown>
  extends AsyncIterable<OperationEvent<TOutput, TProgress>> {
  /** Why the watch ended before a terminal event (error frame, lost stream, invalid frame). */
  readonly error: BaseError | undefined;
  /** Resolves when the watch has ended, with its failure if any. */
  readonly ended: Promise<BaseError | undefined>;
  /** Stops watching (only locally). Idempotent. */
  close(): void;
}

/** Shared by every operation of one client. */
export interface OperationClientContext {
  /** The connection (inbox prefix `_INBOX.<sessionKey[0:16]>`). */
  nc: NatsConnection;
  /** Signs stream requests. */
  signer: RequestSigner;
  /** Sends single-reply requests (start, get, cancel, signal) with retries and signing. */
  rpc: RpcClient;
  /** Logs failing builder callbacks. */
  logger: Logger;
  /** How long a watch may stay silent before it counts as lost, ms (default 30 000). */
  idleTimeoutMs?: number;
  /** How long to wait for the first frame of a watch, ms (default 3000). */
  timeoutMs?: number;
}

/** Payloads are validated here and at the server; control frames only need to be objects. */
const ANY_SCHEMAS = new SchemaSet({ Any: {} });
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type SignalArgs<TSignals, K extends keyof TSignals> = undefined extends TSignals[K]
  ? [input?: TSignals[K]]
  : [input: TSignals[K]];

/** Calls one operation of a contract: `client.operation.<g>.<l>`. */
export class OperationCaller<TInput, TProgress, TOutput, TSignals> {
  private readonly control: RpcDescriptor;
  private readonly start_: RpcDescriptor;

  constructor(
    private readonly ctx: OperationClientContext,
    /** The operation's logical name. */
    readonly name: string,
    private readonly descriptor: OperationDescriptor,
    private readonly schemas: SchemaSet,
  ) {
    const base = {
      input: { schema: "Any" },
      output: { schema: "Any" },
      callerCapabilities: [],
      authRequired: true,
      internal: false,
      errors: [],
      ...OPERATION_DECLARED_ERRORS,
    };
    this.start_ = { ...base, subject: descriptor.subject };
    this.control = { ...base, subject: descriptor.controlSubject };
  }

  /** Starts the operation; resolves to its ref once the service persisted and accepted it. */
  start(input: TInput): AsyncResult<OperationRef<TProgress, TOutput, TSignals>, BaseError> {
    return AsyncResult.from(this.send(input));
  }

  /** A ref to an operation started earlier (by this session). */
  resume(ref: OperationRefData): OperationRef<TProgress, TOutput, TSignals> {
    return new OperationRef(this, { id: ref.id, service: ref.service, operation: ref.operation });
  }

  /** A builder that starts the operation with `input` and reports its events to callbacks. */
  input(input: TInput): OperationBuilder<TInput, TProgress, TOutput, TSignals> {
    return new OperationBuilder(this, input, this.ctx.logger);
  }

  private async send(input: unknown): Promise<Result<OperationRef<TProgress, TOutput, TSignals>, BaseError>> {
    const valid = this.schemas.validate(this.descriptor.input.schema, input);
    if (valid.isErr()) return Result.err(valid.error);
    const reply = await this.ctx.rpc.request<unknown>(this.name, this.start_, ANY_SCHEMAS, valid.value);
    if (reply.isErr()) return Result.err(reply.error);
    const accepted = acceptedReplySchema.safeParse(reply.value);
    if (!accepted.success) {
      return Result.err(
        new TransportError(
          "trellis.operation.invalid_accept",
          `The service's answer to '${this.name}' is not an accepted reply`,
        ),
      );
    }
    const snapshot = this.checkSnapshot(accepted.data.snapshot as OperationSnapshot);
    if (snapshot.isErr()) return Result.err(snapshot.error);
    return Result.ok(new OperationRef(this, accepted.data.ref, snapshot.value));
  }

  /** Validates a received snapshot's output and progress against the operation's schemas. */
  checkSnapshot(snapshot: OperationSnapshot): Result<OperationSnapshot<TOutput, TProgress>, BaseError> {
    if (snapshot.output !== undefined) {
      const output = this.schemas.validate(this.descriptor.output.schema, snapshot.output);
      if (output.isErr()) return Result.err(output.error);
    }
    const progressSchema = this.descriptor.progress?.schema;
    if (snapshot.progress !== undefined && progressSchema !== undefined) {
      const progress = this.schemas.validate(progressSchema, snapshot.progress);
      if (progress.isErr()) return Result.err(progress.error);
    }
    return Result.ok(snapshot as OperationSnapshot<TOutput, TProgress>);
  }

  /** One control request answered by one frame (get, cancel, signal). */
  async request(body: ControlRequest): Promise<Result<unknown, BaseError>> {
    const reply = await this.ctx.rpc.request<unknown>(
      `${this.name}.control`,
      this.control,
      ANY_SCHEMAS,
      body,
    );
    if (reply.isErr()) return reply;
    const frame = controlFrameSchema.safeParse(reply.value);
    if (!frame.success) {
      return Result.err(
        new TransportError("trellis.operation.invalid_event", "The service sent an invalid control frame"),
      );
    }
    const value = frame.data;
    if (value.kind === "error") return Result.err(decodeOperationError(value.error));
    if (value.kind === "snapshot") return this.checkSnapshot(value.snapshot as OperationSnapshot);
    if (value.kind === "signal-accepted") {
      const snapshot = this.checkSnapshot(value.snapshot as OperationSnapshot);
      return snapshot.isErr() ? snapshot : Result.ok({ ...value, snapshot: snapshot.value });
    }
    return Result.err(
      new TransportError("trellis.operation.invalid_event", `Unexpected '${value.kind}' frame`),
    );
  }

  /** Opens a watch stream of operation `id`; resolves once its first frame arrived. */
  async openWatch(id: string): Promise<Result<OperationWatch<TOutput, TProgress>, BaseError>> {
    const { nc, signer } = this.ctx;
    const inbox = createInbox(clientInboxPrefix(signer.sessionKey));
    const watch = new LiveWatch<TOutput, TProgress>(
      this,
      this.ctx.idleTimeoutMs ?? 3 * KEEPALIVE_INTERVAL_MS,
    );
    let sub: Subscription;
    try {
      sub = nc.subscribe(inbox, { callback: (_err, msg) => watch.receive(msg) });
    } catch (cause) {
      return Result.err(
        new TransportError("trellis.operation.watch_closed", `Watching failed: ${String(cause)}`, { cause }),
      );
    }
    watch.attach(sub);
    const subject = this.descriptor.controlSubject;
    const payload = encoder.encode(
      JSON.stringify({ action: "watch", operationId: id } satisfies ControlRequest),
    );
    try {
      nc.publish(subject, payload, { reply: inbox, headers: signer.headers(subject, payload) });
    } catch (cause) {
      watch.close();
      return Result.err(
        new TransportError("trellis.operation.watch_closed", `Watching failed: ${String(cause)}`, { cause }),
      );
    }
    return watch.firstFrame(this.ctx.timeoutMs ?? 3000);
  }
}

/** A handle on one operation, from `start` or `resume`. */
export class OperationRef<TProgress = unknown, TOutput = unknown, TSignals = Record<string, unknown>>
  implements OperationRefData
{
  /** The operation id. */
  readonly id: string;
  /** The service that accepted it. */
  readonly service: string;
  /** The operation's logical name. */
  readonly operation: string;

  constructor(
    private readonly caller: OperationCaller<unknown, TProgress, TOutput, TSignals>,
    ref: OperationRefData,
    /** The accepted snapshot (revision 1, `pending`), when this ref comes from `start`. */
    readonly accepted?: OperationSnapshot<TOutput, TProgress>,
  ) {
    this.id = ref.id;
    this.service = ref.service;
    this.operation = ref.operation;
  }

  /** `{id, service, operation}`, to keep and `resume` later. */
  toJSON(): OperationRefData {
    return { id: this.id, service: this.service, operation: this.operation };
  }

  /** The current snapshot. */
  get(): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    return AsyncResult.from(this.caller.request({ action: "get", operationId: this.id })) as AsyncResult<
      OperationSnapshot<TOutput, TProgress>,
      BaseError
    >;
  }

  /** Cancels the operation; resolves to the cancelled snapshot. */
  cancel(): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    return AsyncResult.from(this.caller.request({ action: "cancel", operationId: this.id })) as AsyncResult<
      OperationSnapshot<TOutput, TProgress>,
      BaseError
    >;
  }

  /** Sends signal `name` (validated by the service); resolves once it is stored. */
  signal<K extends keyof TSignals & string>(
    name: K,
    ...[input]: SignalArgs<TSignals, K>
  ): AsyncResult<SignalAccepted<TOutput, TProgress>, BaseError> {
    const body: ControlRequest = {
      action: "signal",
      operationId: this.id,
      signal: name,
      ...(input !== undefined && { input }),
    };
    return AsyncResult.from(this.caller.request(body)) as AsyncResult<
      SignalAccepted<TOutput, TProgress>,
      BaseError
    >;
  }

  /** Watches the operation (see {@link OperationWatch}). */
  watch(): AsyncResult<OperationWatch<TOutput, TProgress>, BaseError> {
    return AsyncResult.from(this.caller.openWatch(this.id));
  }

  /**
   * The terminal snapshot: `get`, and while not terminal, `watch` until the terminal event. A watch
   * lost after it had started (a replica stopping, a silent stream) is opened again when the operation
   * is still open; one that cannot be opened ends with `trellis.operation.watch_closed`. No timeout.
   */
  wait(): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    return AsyncResult.from(this.waitTerminal());
  }

  private async waitTerminal(): Promise<Result<OperationSnapshot<TOutput, TProgress>, BaseError>> {
    for (;;) {
      const current = await this.get();
      if (current.isErr()) return current;
      if (isTerminalState(current.value.state)) return current;
      const opened = await this.watch();
      if (opened.isErr()) {
        const last = await this.get();
        if (last.isOk() && isTerminalState(last.value.state)) return last;
        return Result.err(
          new TransportError("trellis.operation.watch_closed", `Watching operation '${this.id}' failed`, {
            cause: opened.error,
          }),
        );
      }
      for await (const event of opened.value) {
        if (isTerminalState(event.snapshot.state)) return Result.ok(event.snapshot);
      }
      const lost = opened.value.error;
      if (!(lost instanceof TransportError && lost.code === "trellis.operation.watch_closed")) {
        return Result.err(
          lost ?? new TransportError("trellis.operation.watch_closed", "The watch ended early"),
        );
      }
    }
  }
}

/** Builder callbacks by event type. */
type Callbacks<TOutput, TProgress> = {
  [T in OperationEvent["type"]]?: ((
    event: Extract<OperationEvent<TOutput, TProgress>, { type: T }>,
  ) => unknown)[];
};

/** An operation ref started by the builder, with the end of its callback delivery. */
export type StartedOperation<TProgress, TOutput, TSignals> = OperationRef<TProgress, TOutput, TSignals> & {
  /** Resolves once the watch behind the callbacks ended (after the terminal event), with its failure if any. */
  readonly observed: Promise<BaseError | undefined>;
};

/** `operation.<g>.<l>.input(x).onAccepted(…).onProgress(…)….start()`. */
export class OperationBuilder<TInput, TProgress, TOutput, TSignals> {
  private readonly callbacks: Callbacks<TOutput, TProgress> = {};
  private readonly any: ((event: OperationEvent<TOutput, TProgress>) => unknown)[] = [];

  constructor(
    private readonly caller: OperationCaller<TInput, TProgress, TOutput, TSignals>,
    private readonly value: TInput,
    private readonly logger: Logger,
  ) {}

  private on<T extends OperationEvent["type"]>(
    type: T,
    callback: (event: Extract<OperationEvent<TOutput, TProgress>, { type: T }>) => unknown,
  ): this {
    const list = (this.callbacks[type] ?? []) as ((
      event: Extract<OperationEvent<TOutput, TProgress>, { type: T }>,
    ) => unknown)[];
    list.push(callback);
    (this.callbacks as Record<string, unknown>)[type] = list;
    return this;
  }

  /** Called once with the accepted snapshot. */
  onAccepted(
    callback: (event: Extract<OperationEvent<TOutput, TProgress>, { type: "accepted" }>) => unknown,
  ): this {
    return this.on("accepted", callback);
  }

  /** Called when the operation starts running. */
  onStarted(
    callback: (event: Extract<OperationEvent<TOutput, TProgress>, { type: "started" }>) => unknown,
  ): this {
    return this.on("started", callback);
  }

  /** Called with each progress update. */
  onProgress(
    callback: (event: Extract<OperationEvent<TOutput, TProgress>, { type: "progress" }>) => unknown,
  ): this {
    return this.on("progress", callback);
  }

  /** Called when the operation completes. */
  onCompleted(
    callback: (event: Extract<OperationEvent<TOutput, TProgress>, { type: "completed" }>) => unknown,
  ): this {
    return this.on("completed", callback);
  }

  /** Called when the operation fails. */
  onFailed(
    callback: (event: Extract<OperationEvent<TOutput, TProgress>, { type: "failed" }>) => unknown,
  ): this {
    return this.on("failed", callback);
  }

  /** Called when the operation is cancelled. */
  onCancelled(
    callback: (event: Extract<OperationEvent<TOutput, TProgress>, { type: "cancelled" }>) => unknown,
  ): this {
    return this.on("cancelled", callback);
  }

  /** Called with every event, after the type's own callbacks. */
  onEvent(callback: (event: OperationEvent<TOutput, TProgress>) => unknown): this {
    this.any.push(callback);
    return this;
  }

  /**
   * Starts the operation, delivers `accepted`, then watches it and delivers each later event in
   * order (the watch's initial `pending` snapshot is the accepted one and is not repeated). A watch
   * that cannot be opened leaves the ref usable; `observed` then holds the failure.
   */
  start(): AsyncResult<StartedOperation<TProgress, TOutput, TSignals>, BaseError> {
    return AsyncResult.from(
      (async (): Promise<Result<StartedOperation<TProgress, TOutput, TSignals>, BaseError>> => {
        const started = await this.caller.start(this.value);
        if (started.isErr()) return Result.err(started.error);
        const ref = started.value;
        const accepted = ref.accepted as OperationSnapshot<TOutput, TProgress>;
        await this.dispatch({ type: "accepted", snapshot: accepted });
        const observed = this.observe(ref, accepted.revision);
        return Result.ok(Object.assign(ref, { observed }));
      })(),
    );
  }

  private async observe(ref: OperationRef<TProgress, TOutput, TSignals>, acceptedRevision: number) {
    const opened = await ref.watch();
    if (opened.isErr()) return opened.error;
    for await (const event of opened.value) {
      if (event.type === "accepted" && event.snapshot.revision === acceptedRevision) continue;
      await this.dispatch(event);
    }
    return opened.value.error;
  }

  private async dispatch(event: OperationEvent<TOutput, TProgress>): Promise<void> {
    const own = (this.callbacks[event.type] ?? []) as ((
      event: OperationEvent<TOutput, TProgress>,
    ) => unknown)[];
    for (const callback of [...own, ...this.any]) {
      try {
        await callback(event);
      } catch (cause) {
        this.logger.warn(
          { err: cause, operation: this.caller.name, event: event.type },
          "Operation callback failed",
        );
      }
    }
  }
}

type Phase = "opening" | "open" | "done";

/** The state machine behind an {@link OperationWatch}. */
class LiveWatch<TOutput, TProgress> implements OperationWatch<TOutput, TProgress> {
  error: BaseError | undefined;
  readonly ended: Promise<BaseError | undefined>;
  private phase: Phase = "opening";
  private sub: Subscription | undefined;
  private readonly buffer: OperationEvent<TOutput, TProgress>[] = [];
  private readonly waiters: ((result: IteratorResult<OperationEvent<TOutput, TProgress>>) => void)[] = [];
  private resolveEnded!: (error: BaseError | undefined) => void;
  private settleFirst: ((result: Result<OperationWatch<TOutput, TProgress>, BaseError>) => void) | undefined;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly caller: OperationCaller<unknown, TProgress, TOutput, unknown>,
    private readonly idleTimeoutMs: number,
  ) {
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  attach(sub: Subscription): void {
    this.sub = sub;
    void sub.closed.then(() =>
      this.fail(new TransportError("trellis.operation.watch_closed", "The watch subscription was closed")),
    );
  }

  firstFrame(timeoutMs: number): Promise<Result<OperationWatch<TOutput, TProgress>, BaseError>> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () =>
          this.fail(
            new TransportError(
              "trellis.operation.watch_closed",
              `No answer to the watch within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      this.settleFirst = (result) => {
        clearTimeout(timer);
        resolve(result);
      };
    });
  }

  receive(msg: Msg): void {
    if (this.phase === "done") return;
    if (msg.headers?.hasError && msg.headers.code === 503) {
      this.fail(
        new TransportError(
          "trellis.request.unavailable",
          "No service is answering operation control requests",
          {
            hint: "Check that the service is running and connected.",
          },
        ),
      );
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch {
      this.fail(
        new TransportError("trellis.operation.invalid_event", "The service sent a frame that is not JSON"),
      );
      return;
    }
    const parsed = controlFrameSchema.safeParse(body);
    if (!parsed.success) {
      this.fail(new TransportError("trellis.operation.invalid_event", "The service sent an invalid frame"));
      return;
    }
    const frame = parsed.data;
    this.touch();
    if (frame.kind === "keepalive") return;
    if (frame.kind === "error") {
      this.fail(decodeOperationError(frame.error));
      return;
    }
    let event: OperationEvent;
    if (frame.kind === "snapshot") {
      const snapshot = frame.snapshot as OperationSnapshot;
      event = { type: eventTypeOfSnapshot(snapshot), snapshot };
    } else if (frame.kind === "event") {
      const { type, progress } = frame.event;
      const snapshot = frame.event.snapshot as OperationSnapshot;
      if (type === "progress") {
        const payload = progress ?? snapshot.progress;
        if (payload === undefined) {
          this.fail(
            new TransportError("trellis.operation.invalid_event", "A progress event carries no progress"),
          );
          return;
        }
        event = { type, progress: payload, snapshot: { ...snapshot, progress: payload } };
      } else {
        event = { type, snapshot };
      }
    } else {
      this.fail(
        new TransportError("trellis.operation.invalid_event", `Unexpected '${frame.kind}' frame on a watch`),
      );
      return;
    }
    const checked = this.caller.checkSnapshot(event.snapshot);
    if (checked.isErr()) {
      this.fail(checked.error);
      return;
    }
    this.push(event as OperationEvent<TOutput, TProgress>);
    if (this.phase === "opening") {
      this.phase = "open";
      this.settleFirst?.(Result.ok(this));
    }
    if (isTerminalState(event.snapshot.state)) this.finish();
  }

  close(): void {
    this.buffer.length = 0;
    this.finish();
  }

  [Symbol.asyncIterator](): AsyncIterator<OperationEvent<TOutput, TProgress>> {
    return {
      next: () => {
        const next = this.buffer.shift();
        if (next) return Promise.resolve({ value: next, done: false });
        if (this.phase === "done") return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private push(event: OperationEvent<TOutput, TProgress>): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: event, done: false });
    else this.buffer.push(event);
  }

  /** Restarts the silence timer: a stream silent for `idleTimeoutMs` is lost. */
  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(
      () =>
        this.fail(
          new TransportError(
            "trellis.operation.watch_closed",
            `The watch was silent for ${this.idleTimeoutMs} ms`,
          ),
        ),
      this.idleTimeoutMs,
    );
    this.idle.unref();
  }

  private fail(error: BaseError): void {
    if (this.phase === "done") return;
    this.error = error;
    this.finish();
  }

  private finish(): void {
    if (this.phase === "done") return;
    const opening = this.phase === "opening";
    this.phase = "done";
    clearTimeout(this.idle);
    try {
      if (this.sub && !this.sub.isClosed()) this.sub.unsubscribe();
    } catch {
      // The connection is already gone.
    }
    if (opening) {
      this.settleFirst?.(
        Result.err(
          this.error ?? new TransportError("trellis.operation.watch_closed", "The watch was closed"),
        ),
      );
    }
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
    this.resolveEnded(this.error);
  }
}
