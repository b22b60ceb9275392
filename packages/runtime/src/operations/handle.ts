/**
 * The handler-side handle of an operation, `op` (runtime spec §4.4): transitions (`started`,
 * `progress`, `complete`, `fail`, `cancel`), `defer`, `attach(job)` and signals. The same handle is
 * what `service.handle.operation.<g>.<l>.control(id)` returns, so a job, another replica or a restarted
 * service drives an operation exactly like its handler would. Every transition is validated, refused
 * once the operation is terminal, and persisted with compare-and-set before it is visible.
 */
import type { OperationDescriptor } from "@trellis/contracts";
import { AsyncResult, type BaseError, Result, UnexpectedError } from "@trellis/result";
import { annotateBoundaryError, TransportError, ValidationError } from "../errors/errors.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { SchemaSet } from "../validation/schemas.js";
import { OperationAlreadyTerminalError } from "./errors.js";
import {
  isTerminalState,
  type OperationEventType,
  type OperationRecord,
  type OperationSnapshot,
  type StoredSignal,
} from "./model.js";
import type { OperationStore, RecordChange, StoredRecord } from "./store.js";

const DEFERRED_BRAND: unique symbol = Symbol("trellis.operation.deferred");

/** What `op.defer()` returns: the handler leaves the operation open for a job or a control handle. */
export interface DeferredOperation {
  /** Always `deferred`. */
  readonly kind: "deferred";
  /** Marks values made by `defer()`, so an output shaped `{kind: "deferred"}` is never mistaken for one. */
  readonly [DEFERRED_BRAND]: true;
}

/** Is `value` what `op.defer()` returned? */
export function isDeferred(value: unknown): value is DeferredOperation {
  return typeof value === "object" && value !== null && DEFERRED_BRAND in value;
}

/** One accepted signal, typed by the operation's signal map. */
export type OperationSignal<TSignals> = {
  [K in keyof TSignals & string]: {
    /** The signal's name. */
    signal: K;
    /** Its validated input. */
    input: TSignals[K];
    /** Its sequence (1, 2, …). */
    sequence: number;
    /** When it was accepted (ISO 8601). */
    acceptedAt: string;
  };
}[keyof TSignals & string];

/** Something that finishes: a `JobRef` (its `wait()` settles when the job ends). */
export interface Awaitable {
  /** Settles when the work has ended. */
  wait(): PromiseLike<unknown>;
}

/** What every handle of one service needs. */
export interface OperationRuntime {
  /** The operations bucket. */
  store: OperationStore;
  /** The service name (the snapshot's `service`). */
  service: string;
  /** The serving contract (error context). */
  contract: { CONTRACT_ID: string; CONTRACT_DIGEST: string };
  /** Validators of the contract's schemas. */
  schemas: SchemaSet;
  /** Metrics sink. */
  metrics?: Metrics;
}

/** The transition-making side of one operation. */
export class OperationHandle<TProgress = unknown, TOutput = unknown, TSignals = Record<string, unknown>> {
  private known: StoredRecord | undefined;
  private readonly consumed = new Set<number>();

  constructor(
    private readonly runtime: OperationRuntime,
    /** The operation's logical name. */
    readonly operation: string,
    private readonly descriptor: OperationDescriptor,
    /** The operation id. */
    readonly id: string,
    known?: StoredRecord,
  ) {
    this.known = known;
  }

  /** The service that owns the operation. */
  get service(): string {
    return this.runtime.service;
  }

  /** The current snapshot, read from the bucket. */
  get(): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    return AsyncResult.from(
      (async (): Promise<Result<OperationSnapshot<TOutput, TProgress>, BaseError>> => {
        const loaded = await this.load();
        return loaded.isErr()
          ? Result.err(loaded.error)
          : Result.ok(loaded.value.record.snapshot as OperationSnapshot<TOutput, TProgress>);
      })(),
    );
  }

  /** Marks the operation running (nothing changes when it already is). */
  started(): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    return this.transition("started", (snapshot) => (snapshot.state === "running" ? undefined : {}));
  }

  /** Records progress (validated against the operation's progress schema); the operation is running after it. */
  progress(value: TProgress): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    const schema = this.descriptor.progress?.schema;
    if (schema === undefined) {
      return AsyncResult.err(
        new ValidationError([
          { path: "/progress", message: `operation '${this.operation}' declares no progress` },
        ]),
      );
    }
    const valid = this.runtime.schemas.validate(schema, value);
    if (valid.isErr()) return AsyncResult.err(valid.error);
    return this.transition("progress", () => ({ progress: valid.value }));
  }

  /** Completes the operation with `output` (validated against the output schema). */
  complete(output: TOutput): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    const valid = this.runtime.schemas.validate(this.descriptor.output.schema, output);
    if (valid.isErr()) return AsyncResult.err(valid.error);
    return this.transition("completed", () => ({ output: valid.value }));
  }

  /** Fails the operation; the error is annotated, serialized and kept in the snapshot. */
  fail(error: BaseError): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    return this.transition("failed", (_snapshot, record) => ({
      error: annotateBoundaryError(error, {
        surface: "operation",
        name: this.operation,
        requestId: record.requestId,
        traceId: record.traceId,
        service: this.runtime.service,
        contract: this.runtime.contract,
      }),
    }));
  }

  /** Cancels the operation: only for `cancel: true` operations (`ValidationError` at `/action` otherwise). */
  cancel(): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    if (!this.descriptor.cancel) return AsyncResult.err(notCancelable(this.operation));
    return this.transition("cancelled", () => ({}));
  }

  /** Leaves the operation open: return it from the handler and finish the operation through `control(id)`. */
  defer(): DeferredOperation {
    return { kind: "deferred", [DEFERRED_BRAND]: true };
  }

  /**
   * Waits for `job` to end, then answers the operation's terminal snapshot (the job finishes the
   * operation through `control(id)`); `UnexpectedError` when it is still open after the job.
   */
  attach(job: Awaitable): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    return AsyncResult.from(
      (async (): Promise<Result<OperationSnapshot<TOutput, TProgress>, BaseError>> => {
        try {
          await job.wait();
        } catch (cause) {
          return Result.err(new UnexpectedError("Waiting for the attached job failed", { cause }));
        }
        const loaded = await this.load();
        if (loaded.isErr()) return Result.err(loaded.error);
        const snapshot = loaded.value.record.snapshot as OperationSnapshot<TOutput, TProgress>;
        if (isTerminalState(snapshot.state)) return Result.ok(snapshot);
        return Result.err(
          new UnexpectedError(
            `The attached job ended but operation '${this.id}' is still ${snapshot.state}`,
            {
              context: { operationId: this.id, state: snapshot.state },
            },
          ),
        );
      })(),
    );
  }

  /**
   * The next signal this handle has not returned yet (of `name`, when given), queued ones first in
   * order, then waiting for live ones. `OperationAlreadyTerminalError` once the operation ends, a
   * `TransportError` `trellis.operation.stopped` when the service stops.
   */
  nextSignal<K extends keyof TSignals & string>(
    name?: K,
  ): AsyncResult<Extract<OperationSignal<TSignals>, { signal: K }>, BaseError> {
    return AsyncResult.from(this.awaitSignal(name)) as AsyncResult<
      Extract<OperationSignal<TSignals>, { signal: K }>,
      BaseError
    >;
  }

  /** Every signal in order (queued first, then live) until the operation ends or the service stops. */
  async *signals(): AsyncGenerator<OperationSignal<TSignals>, void, undefined> {
    for (;;) {
      const next = await this.awaitSignal(undefined);
      if (next.isErr()) return;
      yield next.value;
    }
  }

  private async awaitSignal(name: string | undefined): Promise<Result<OperationSignal<TSignals>, BaseError>> {
    let latest: StoredRecord | undefined;
    let wake: (() => void) | undefined;
    let closed = false;
    const unsubscribe = this.runtime.store.subscribe(this.id, (stored) => {
      if (!stored) closed = true;
      else if (!latest || stored.revision > latest.revision) latest = stored;
      wake?.();
    });
    try {
      const loaded = await this.load();
      if (loaded.isErr()) return Result.err(loaded.error);
      if (!latest || loaded.value.revision > latest.revision) latest = loaded.value;
      for (;;) {
        const record: OperationRecord = latest.record;
        const found = record.signals.find(
          (signal) => !this.consumed.has(signal.sequence) && (name === undefined || signal.signal === name),
        );
        if (found) {
          this.consumed.add(found.sequence);
          return Result.ok(toSignal<TSignals>(found));
        }
        if (isTerminalState(record.snapshot.state)) return Result.err(this.alreadyTerminal(record));
        if (closed) {
          return Result.err(
            new TransportError("trellis.operation.stopped", "The service stopped while waiting for a signal"),
          );
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      unsubscribe();
    }
  }

  private async load(): Promise<Result<StoredRecord, BaseError>> {
    const loaded = await this.runtime.store.load(this.id);
    if (loaded.isErr()) return Result.err(loaded.error);
    if (!loaded.value) return Result.err(new UnexpectedError(`Operation record '${this.id}' disappeared`));
    this.known = loaded.value;
    return Result.ok(loaded.value);
  }

  private alreadyTerminal(record: OperationRecord): OperationAlreadyTerminalError {
    return new OperationAlreadyTerminalError(this.id, {
      state: record.snapshot.state,
      operation: this.operation,
      service: this.runtime.service,
    });
  }

  /**
   * Persists one transition: `patch` gives the snapshot fields that change (`undefined`: nothing to
   * do). Refused once terminal; bumps `sequence` and `revision` and records the event.
   */
  private transition(
    type: Exclude<OperationEventType, "accepted">,
    patch: (snapshot: OperationSnapshot, record: OperationRecord) => Partial<OperationSnapshot> | undefined,
  ): AsyncResult<OperationSnapshot<TOutput, TProgress>, BaseError> {
    const terminal = type === "completed" || type === "failed" || type === "cancelled";
    return AsyncResult.from(
      (async (): Promise<Result<OperationSnapshot<TOutput, TProgress>, BaseError>> => {
        const stored = await this.runtime.store.mutate(
          this.id,
          (record): RecordChange => {
            if (isTerminalState(record.snapshot.state)) return Result.err(this.alreadyTerminal(record));
            const changes = patch(record.snapshot, record);
            if (changes === undefined) return Result.ok(undefined);
            return Result.ok(applyTransition(record, type, changes, new Date().toISOString()));
          },
          this.known,
        );
        if (stored.isErr()) return Result.err(stored.error);
        if (!stored.value)
          return Result.err(new UnexpectedError(`Operation record '${this.id}' disappeared`));
        this.known = stored.value;
        if (terminal) this.runtime.metrics?.operationOutcome(this.operation, type);
        return Result.ok(stored.value.record.snapshot as OperationSnapshot<TOutput, TProgress>);
      })(),
    );
  }
}

/** The record after one transition of `type` with the snapshot fields `changes`, at time `now`. */
export function applyTransition(
  record: OperationRecord,
  type: Exclude<OperationEventType, "accepted">,
  changes: Partial<OperationSnapshot>,
  now: string,
): OperationRecord {
  const sequence = record.sequence + 1;
  const state = type === "started" || type === "progress" ? "running" : type;
  const snapshot: OperationSnapshot = {
    ...record.snapshot,
    ...changes,
    state,
    revision: record.snapshot.revision + 1,
    updatedAt: now,
    ...(isTerminalState(state) && { completedAt: now }),
  };
  return { ...record, sequence, snapshot, lastEvent: { sequence, type } };
}

/** The `ValidationError` of a cancel on an operation that is not `cancel: true`. */
export function notCancelable(operation: string): ValidationError {
  return new ValidationError([{ path: "/action", message: `operation '${operation}' cannot be cancelled` }]);
}

function toSignal<TSignals>(stored: StoredSignal): OperationSignal<TSignals> {
  return {
    signal: stored.signal,
    input: stored.input,
    sequence: stored.sequence,
    acceptedAt: stored.acceptedAt,
  } as OperationSignal<TSignals>;
}
