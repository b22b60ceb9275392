/**
 * The durable side of operations (runtime spec §4.2): one record per operation in the deployment's
 * operations bucket (created by reconciliation, only bound to here), written with compare-and-set so
 * replicas can change the same operation safely, and one watch of the whole bucket per replica that
 * tells it about every change, whichever replica made it.
 */

import { type KV, type KvEntry, Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BaseError, Result } from "@trellis/result";
import { KVError } from "../errors/errors.js";
import { isStreamNotFound, isWrongLastSequence } from "../kv/jetstream-errors.js";
import type { Logger } from "../telemetry/logger.js";
import { type OperationRecord, recordSchema } from "./model.js";

/** A record with the bucket revision it was read at (for compare-and-set). */
export interface StoredRecord {
  /** The record. */
  record: OperationRecord;
  /** Its KV revision. */
  revision: number;
}

/** What a change function decides: a new record, or `undefined` to leave the record as it is. */
export type RecordChange = Result<OperationRecord | undefined, BaseError>;

/** Told about every change of one record seen by the bucket watch; `undefined` when the store stopped. */
export type RecordListener = (stored: StoredRecord | undefined) => void;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Operation ids are ULIDs; anything else cannot name a record. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Compare-and-set attempts before a change gives up. */
const MAX_ATTEMPTS = 25;
/** Delay before a broken bucket watch is resumed, ms. */
const REWATCH_DELAY_MS = 500;

/** Is `id` a possible operation id (and so a valid key)? */
export function isOperationId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Operation records in one KV bucket. */
export class OperationStore {
  private readonly listeners = new Map<string, Set<RecordListener>>();
  private watching?: Promise<void>;
  private stopped = false;
  private stopWatch?: () => void;
  private lastSeen = 0;
  /** Settles with the first watch attempt: `undefined` once running, or why it could not start. */
  private readonly firstAttempt: Promise<KVError | undefined>;
  private settleFirstAttempt!: (outcome: KVError | undefined) => void;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    /** The bucket name. */
    readonly bucket: string,
    private readonly logger: Logger,
  ) {
    this.firstAttempt = new Promise((resolve) => {
      this.settleFirstAttempt = resolve;
    });
  }

  /** Binds to an existing bucket (a missing one is `KVError` reason `bucket not found`). */
  static async open(
    nc: NatsConnection,
    bucket: string,
    logger: Logger,
  ): Promise<Result<OperationStore, KVError>> {
    const kvm = new Kvm(nc);
    try {
      const probe = await kvm.open(bucket);
      const status = await probe.status();
      const kv = status.streamInfo.config.allow_direct
        ? await kvm.open(bucket, { allow_direct: true })
        : probe;
      return Result.ok(new OperationStore(nc, kv, bucket, logger));
    } catch (cause) {
      const missing = isStreamNotFound(cause);
      return Result.err(
        new KVError(
          missing
            ? `Operations bucket '${bucket}' does not exist; has the deployment been reconciled?`
            : `Opening operations bucket '${bucket}' failed: ${String(cause)}`,
          { operation: "open", reason: missing ? "bucket not found" : "failed", cause, context: { bucket } },
        ),
      );
    }
  }

  private failure(operation: string, id: string, cause: unknown): KVError {
    return new KVError(`Operation record '${id}' could not be ${operation === "get" ? "read" : "written"}`, {
      operation,
      reason: "failed",
      cause,
      context: { bucket: this.bucket, operationId: id },
    });
  }

  private decode(id: string, entry: KvEntry): Result<StoredRecord, KVError> {
    try {
      const parsed = recordSchema.safeParse(JSON.parse(decoder.decode(entry.value)));
      if (parsed.success)
        return Result.ok({ record: parsed.data as OperationRecord, revision: entry.revision });
      return Result.err(
        new KVError(`Operation record '${id}' is malformed: ${parsed.error.message}`, {
          operation: "get",
          reason: "invalid",
          context: { bucket: this.bucket, operationId: id },
        }),
      );
    } catch (cause) {
      return Result.err(
        new KVError(`Operation record '${id}' is not JSON`, {
          operation: "get",
          reason: "invalid",
          cause,
          context: { bucket: this.bucket, operationId: id },
        }),
      );
    }
  }

  /** The record of `id`, or `undefined` when there is none. */
  async load(id: string): Promise<Result<StoredRecord | undefined, KVError>> {
    if (!isOperationId(id)) return Result.ok(undefined);
    let entry: KvEntry | null;
    try {
      entry = await this.kv.get(id);
    } catch (cause) {
      return Result.err(this.failure("get", id, cause));
    }
    if (entry?.operation !== "PUT") return Result.ok(undefined);
    return this.decode(id, entry);
  }

  /** Writes the first record of a new operation; returns its revision. */
  async create(record: OperationRecord): Promise<Result<number, KVError>> {
    const id = record.snapshot.id;
    try {
      return Result.ok(await this.kv.create(id, encoder.encode(JSON.stringify(record))));
    } catch (cause) {
      return Result.err(this.failure("create", id, cause));
    }
  }

  /**
   * Applies `change` to the current record of `id` and writes the result if the record has not changed
   * meanwhile (compare-and-set), reading it again and retrying otherwise. `known` is a record the caller
   * believes current; it saves the first read. Resolves to the record as stored (unchanged when `change`
   * answered `undefined`), or `undefined` when there is no record.
   */
  async mutate(
    id: string,
    change: (record: OperationRecord) => RecordChange,
    known?: StoredRecord,
  ): Promise<Result<StoredRecord | undefined, BaseError>> {
    let current = known;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!current) {
        const loaded = await this.load(id);
        if (loaded.isErr()) return loaded;
        if (!loaded.value) return Result.ok(undefined);
        current = loaded.value;
      }
      const next = change(structuredClone(current.record));
      if (next.isErr()) return Result.err(next.error);
      if (!next.value) return Result.ok(current);
      try {
        const revision = await this.kv.update(
          id,
          encoder.encode(JSON.stringify(next.value)),
          current.revision,
        );
        return Result.ok({ record: next.value, revision });
      } catch (cause) {
        if (!isWrongLastSequence(cause)) return Result.err(this.failure("update", id, cause));
        current = undefined;
      }
    }
    return Result.err(
      new KVError(`Operation record '${id}' kept changing; gave up after ${MAX_ATTEMPTS} attempts`, {
        operation: "update",
        reason: "revision mismatch",
        context: { bucket: this.bucket, operationId: id },
      }),
    );
  }

  /** Starts the bucket watch (once); resolves when it runs, or with the reason it could not start. */
  async start(): Promise<Result<void, KVError>> {
    this.watching ??= this.watchLoop();
    const failed = await this.firstAttempt;
    return failed ? Result.err(failed) : Result.ok(undefined);
  }

  /** Tells `listener` about every later change of record `id` (needs {@link start}); returns a remover. */
  subscribe(id: string, listener: RecordListener): () => void {
    if (this.stopped) {
      listener(undefined);
      return () => undefined;
    }
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(id) === set) this.listeners.delete(id);
    };
  }

  /** Watches the bucket until stopped, resuming after the last revision seen when the watch breaks. */
  private async watchLoop(): Promise<void> {
    while (!this.stopped && !this.nc.isClosed()) {
      try {
        const iterator = await this.kv.watch({
          include: KvWatchInclude.UpdatesOnly,
          ignoreDeletes: true,
          ...(this.lastSeen > 0 && { resumeFromRevision: this.lastSeen + 1 }),
        });
        this.stopWatch = () => iterator.stop();
        this.settleFirstAttempt(undefined);
        if (this.stopped) iterator.stop();
        for await (const entry of iterator) {
          this.lastSeen = Math.max(this.lastSeen, entry.revision);
          const listeners = this.listeners.get(entry.key);
          if (entry.operation !== "PUT" || !listeners) continue;
          const decoded = this.decode(entry.key, entry);
          if (decoded.isErr()) {
            this.logger.warn(
              { err: decoded.error, operationId: entry.key },
              "Skipping a malformed operation record",
            );
            continue;
          }
          for (const listener of [...listeners]) listener(decoded.value);
        }
      } catch (cause) {
        this.settleFirstAttempt(
          new KVError(`Watching operations bucket '${this.bucket}' failed: ${String(cause)}`, {
            operation: "watch",
            reason: "failed",
            cause,
            context: { bucket: this.bucket },
          }),
        );
        if (!this.stopped)
          this.logger.warn({ err: cause, bucket: this.bucket }, "Operations bucket watch failed");
      }
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, REWATCH_DELAY_MS));
    }
    this.settleFirstAttempt(undefined);
  }

  /** Stops the bucket watch. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
    await this.watching;
    const listeners = [...this.listeners.values()].flatMap((set) => [...set]);
    this.listeners.clear();
    for (const listener of listeners) listener(undefined);
  }
}
