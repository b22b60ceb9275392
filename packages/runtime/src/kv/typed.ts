/**
 * Typed access to one service KV resource (runtime spec §5.1): a bucket that reconciliation created and
 * the service only binds to, with every value validated against the resource's schema on the way in
 * and on the way out.
 */

import { type KV, Kvm, KvWatchInclude, type KvEntry as NatsKvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { AsyncResult, type BaseError, Result } from "@trellis/result";
import { KVError, ValidationError } from "../errors/errors.js";
import type { SchemaSet } from "../validation/schemas.js";
import { isStreamNotFound, isWrongLastSequence } from "./jetstream-errors.js";
import {
  escapeKvKey,
  escapeKvKeyFilter,
  invalidKeyFilterReason,
  invalidStoredKeyReason,
  unescapeKvKey,
} from "./keys.js";

/** One stored value. */
export interface KvEntry<T> {
  /** The key as the caller names it (unescaped). */
  key: string;
  /** The validated value. */
  value: T;
  /** The entry's revision (the bucket stream's sequence), usable as `expectedRevision`. */
  revision: number;
  /** When this revision was written. */
  createdAt: Date;
}

/** Compare-and-set condition of a write. */
export interface KvWriteOptions {
  /** Write only if the key's current revision is this one (`KVError` reason `revision mismatch` otherwise). */
  expectedRevision?: number;
}

/** What a watcher is told. */
export type KvWatchEvent<T> =
  /** A value was written (or is the current value when the watch starts). */
  | { kind: "put"; entry: KvEntry<T> }
  /** A key was deleted or purged (only with `includeDeletes`). */
  | { kind: "delete"; key: string; revision: number; createdAt: Date }
  /** A stored value failed the schema. */
  | { kind: "invalid"; key: string; revision: number; error: ValidationError };

/** Options of {@link TypedKV.watch}. */
export interface KvWatchOptions {
  /** Keys to watch, as a filter of caller keys with `*`/`>` segments (default `>`: all). */
  key?: string;
  /** Also report deletes and purges (default false). */
  includeDeletes?: boolean;
  /** Only report changes made after the watch started (default false: current values first). */
  updatesOnly?: boolean;
  /** Stops the watch. */
  signal?: AbortSignal;
}

/** A running watch. */
export interface KvWatcher {
  /** Stops watching. Idempotent. */
  stop(): void;
  /** Resolves when the watch stopped: with the error if the callback threw or the watch broke. */
  readonly done: Promise<BaseError | undefined>;
}

/** Options of {@link TypedKV}. */
export interface TypedKVOptions {
  /** Bucket name (for errors). */
  bucket: string;
  /** Name of the value schema in `schemas`. */
  schema: string;
  /** Validators. */
  schemas: SchemaSet;
  /** Largest encoded value accepted, in bytes (checked before writing). */
  maxValueBytes?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Lets the bucket accept every key {@link escapeKvKey} produces. The NATS client only allows
 * `[-/=._A-Za-z0-9]` in keys, narrower than subject tokens: the escaped forms `~HEX~` and `_$…` (and
 * any other non-ASCII or punctuation character a key may hold) would be refused although the server
 * accepts them. Keys are checked by this module before every call instead.
 */
function acceptEscapedKeys(kv: KV): KV {
  const validateKey = (key: string) => {
    const reason = invalidStoredKeyReason(key);
    if (reason) throw new Error(`invalid key '${key}': ${reason}`);
  };
  const validateSearchKey = (filter: string) => {
    const reason = invalidKeyFilterReason(filter);
    if (reason) throw new Error(`invalid key filter '${filter}': ${reason}`);
  };
  return Object.assign(kv, { validateKey, validateSearchKey });
}

/** A KV bucket whose values follow one schema. */
export class TypedKV<T = unknown> {
  /** The bucket name. */
  readonly bucket: string;

  private constructor(
    private readonly kv: KV,
    private readonly options: TypedKVOptions,
  ) {
    this.bucket = options.bucket;
  }

  /**
   * Binds to an existing bucket (never creates it) and checks that it exists: a missing bucket is a
   * `KVError` with reason `bucket not found`.
   */
  static open<T = unknown>(nc: NatsConnection, options: TypedKVOptions): AsyncResult<TypedKV<T>, KVError> {
    return AsyncResult.from(
      (async (): Promise<Result<TypedKV<T>, KVError>> => {
        const kvm = new Kvm(nc);
        try {
          const probe = await kvm.open(options.bucket);
          const status = await probe.status();
          // Direct gets are cheaper and need only the DIRECT.GET grant; use them when the stream allows.
          const kv = status.streamInfo.config.allow_direct
            ? await kvm.open(options.bucket, { allow_direct: true })
            : probe;
          return Result.ok(new TypedKV<T>(acceptEscapedKeys(kv), options));
        } catch (cause) {
          if (isStreamNotFound(cause)) {
            return Result.err(
              new KVError(`KV bucket '${options.bucket}' does not exist`, {
                operation: "open",
                reason: "bucket not found",
                cause,
                context: { bucket: options.bucket },
              }),
            );
          }
          return Result.err(
            new KVError(`Opening KV bucket '${options.bucket}' failed: ${String(cause)}`, {
              operation: "open",
              reason: "failed",
              cause,
              context: { bucket: options.bucket },
            }),
          );
        }
      })(),
    );
  }

  /** The value of `key`: `KVError` reason `not found` when missing or deleted, `ValidationError` when it breaks the schema. */
  get(key: string): AsyncResult<KvEntry<T>, KVError | ValidationError> {
    return this.run("get", key, async (stored) => {
      const entry = await this.kv.get(stored);
      if (entry?.operation !== "PUT") {
        return Result.err(this.error("get", key, "not found", `Key '${key}' not found`));
      }
      return this.decode(key, entry);
    });
  }

  /** Writes `value` only if `key` has no value (`KVError` reason `exists` otherwise); returns the revision. */
  create(key: string, value: T): AsyncResult<number, KVError | ValidationError> {
    return this.write("create", key, value, async (stored, data) => {
      try {
        return Result.ok(await this.kv.create(stored, data));
      } catch (cause) {
        if (isWrongLastSequence(cause)) {
          return Result.err(this.error("create", key, "exists", `Key '${key}' already exists`, cause));
        }
        throw cause;
      }
    });
  }

  /** Writes `value`, overwriting; with `expectedRevision`, only if the revision still matches. Returns the new revision. */
  put(key: string, value: T, options: KvWriteOptions = {}): AsyncResult<number, KVError | ValidationError> {
    return this.write("put", key, value, async (stored, data) => {
      const { expectedRevision } = options;
      try {
        return Result.ok(
          await this.kv.put(
            stored,
            data,
            expectedRevision === undefined ? {} : { previousSeq: expectedRevision },
          ),
        );
      } catch (cause) {
        if (isWrongLastSequence(cause)) return Result.err(this.mismatch("put", key, expectedRevision, cause));
        throw cause;
      }
    });
  }

  /** Deletes `key` (a no-op when absent); with `expectedRevision`, only if the revision still matches. */
  delete(key: string, options: KvWriteOptions = {}): AsyncResult<void, KVError> {
    return this.run("delete", key, async (stored) => {
      const { expectedRevision } = options;
      if (expectedRevision !== undefined && expectedRevision < 1) {
        return Result.err(this.mismatch("delete", key, expectedRevision));
      }
      try {
        await this.kv.delete(stored, expectedRevision === undefined ? {} : { previousSeq: expectedRevision });
        return Result.ok(undefined);
      } catch (cause) {
        if (isWrongLastSequence(cause))
          return Result.err(this.mismatch("delete", key, expectedRevision, cause));
        throw cause;
      }
    });
  }

  /** Keys holding a value, as the caller names them, matching `filter` (`*`/`>` segments; default all). */
  keys(filter = ">"): AsyncResult<string[], KVError> {
    return AsyncResult.from(
      (async (): Promise<Result<string[], KVError>> => {
        const escaped = escapeKvKeyFilter(filter);
        const reason = invalidKeyFilterReason(escaped);
        if (reason) return Result.err(this.error("keys", filter, "invalid key", reason));
        try {
          const out: string[] = [];
          for await (const stored of await this.kv.keys(escaped)) out.push(unescapeKvKey(stored));
          return Result.ok(out);
        } catch (cause) {
          return Result.err(this.failure("keys", filter, cause));
        }
      })(),
    );
  }

  /** Number of values stored (history included). */
  status(): AsyncResult<{ bucket: string; values: number; history: number; ttlMs: number }, KVError> {
    return AsyncResult.from(
      (async (): Promise<
        Result<{ bucket: string; values: number; history: number; ttlMs: number }, KVError>
      > => {
        try {
          const status = await this.kv.status();
          return Result.ok({
            bucket: this.bucket,
            values: status.values,
            history: status.history,
            ttlMs: status.ttl,
          });
        } catch (cause) {
          return Result.err(this.failure("status", "", cause));
        }
      })(),
    );
  }

  /**
   * Calls `callback` for each change of the watched keys, one at a time (awaiting it). The watch stops
   * on `stop()`, on the signal, or when the callback throws (`done` then holds the error).
   */
  watch(
    callback: (event: KvWatchEvent<T>) => void | Promise<void>,
    options: KvWatchOptions = {},
  ): AsyncResult<KvWatcher, KVError> {
    return AsyncResult.from(
      (async (): Promise<Result<KvWatcher, KVError>> => {
        const filter = options.key ?? ">";
        const escaped = escapeKvKeyFilter(filter);
        const reason = invalidKeyFilterReason(escaped);
        if (reason) return Result.err(this.error("watch", filter, "invalid key", reason));
        if (options.signal?.aborted) {
          return Result.ok({ stop: () => undefined, done: Promise.resolve(undefined) });
        }
        let iterator: Awaited<ReturnType<KV["watch"]>>;
        try {
          iterator = await this.kv.watch({
            key: escaped,
            ignoreDeletes: options.includeDeletes !== true,
            ...(options.updatesOnly && { include: KvWatchInclude.UpdatesOnly }),
          });
        } catch (cause) {
          return Result.err(this.failure("watch", filter, cause));
        }
        const stop = () => iterator.stop();
        options.signal?.addEventListener("abort", stop, { once: true });
        const done = (async (): Promise<BaseError | undefined> => {
          try {
            for await (const entry of iterator) {
              const key = unescapeKvKey(entry.key);
              if (entry.operation !== "PUT") {
                await callback({ kind: "delete", key, revision: entry.revision, createdAt: entry.created });
                continue;
              }
              const decoded = this.decode(key, entry);
              await callback(
                decoded.isOk()
                  ? { kind: "put", entry: decoded.value }
                  : { kind: "invalid", key, revision: entry.revision, error: decoded.error },
              );
            }
            return undefined;
          } catch (cause) {
            iterator.stop();
            return this.failure("watch", filter, cause);
          } finally {
            options.signal?.removeEventListener("abort", stop);
          }
        })();
        return Result.ok({ stop, done });
      })(),
    );
  }

  private decode(key: string, entry: NatsKvEntry): Result<KvEntry<T>, ValidationError> {
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(entry.value));
    } catch (cause) {
      return Result.err(
        new ValidationError([{ path: "", message: "the stored value is not valid JSON" }], {
          cause,
          context: { bucket: this.bucket, key, revision: entry.revision },
        }),
      );
    }
    const valid = this.options.schemas.validate<T>(this.options.schema, raw);
    if (valid.isErr()) {
      return Result.err(
        new ValidationError(valid.error.issues, {
          context: { ...valid.error.context, bucket: this.bucket, key, revision: entry.revision },
        }),
      );
    }
    return Result.ok({ key, value: valid.value, revision: entry.revision, createdAt: entry.created });
  }

  /** Escapes and checks the key, then runs `fn`; anything thrown becomes a `KVError`. */
  private run<R, E extends BaseError>(
    operation: string,
    key: string,
    fn: (stored: string) => Promise<Result<R, E | KVError>>,
  ): AsyncResult<R, E | KVError> {
    return AsyncResult.from(
      (async (): Promise<Result<R, E | KVError>> => {
        const stored = escapeKvKey(key);
        const reason = invalidStoredKeyReason(stored);
        if (reason) return Result.err(this.error(operation, key, "invalid key", reason));
        try {
          return await fn(stored);
        } catch (cause) {
          return Result.err(this.failure(operation, key, cause));
        }
      })(),
    );
  }

  /** Validates and encodes `value` (Dates become ISO strings), then runs the write. */
  private write(
    operation: string,
    key: string,
    value: T,
    fn: (stored: string, data: Uint8Array) => Promise<Result<number, KVError>>,
  ): AsyncResult<number, KVError | ValidationError> {
    return this.run<number, ValidationError>(operation, key, async (stored) => {
      let json: string | undefined;
      try {
        json = JSON.stringify(value);
      } catch (cause) {
        return Result.err(
          new ValidationError([{ path: "", message: "the value cannot be encoded as JSON" }], { cause }),
        );
      }
      if (json === undefined) {
        return Result.err(
          new ValidationError([{ path: "", message: "the value cannot be encoded as JSON" }]),
        );
      }
      const valid = this.options.schemas.validate(this.options.schema, JSON.parse(json));
      if (valid.isErr()) {
        return Result.err(
          new ValidationError(valid.error.issues, {
            context: { ...valid.error.context, bucket: this.bucket, key },
          }),
        );
      }
      const data = encoder.encode(JSON.stringify(valid.value));
      const max = this.options.maxValueBytes;
      if (max !== undefined && data.length > max) {
        return Result.err(
          this.error(
            operation,
            key,
            "value too large",
            `The value is ${data.length} bytes; at most ${max} are allowed`,
          ),
        );
      }
      return fn(stored, data);
    });
  }

  private mismatch(operation: string, key: string, expected: number | undefined, cause?: unknown): KVError {
    return this.error(
      operation,
      key,
      "revision mismatch",
      `Key '${key}' is not at revision ${expected}`,
      cause,
      { expectedRevision: expected },
    );
  }

  private error(
    operation: string,
    key: string,
    reason: string,
    message: string,
    cause?: unknown,
    extra: Record<string, unknown> = {},
  ): KVError {
    return new KVError(message, {
      operation,
      reason,
      context: { bucket: this.bucket, key, ...extra },
      ...(cause !== undefined && { cause }),
    });
  }

  private failure(operation: string, key: string, cause: unknown): KVError {
    if (cause instanceof KVError) return cause;
    return this.error(
      operation,
      key,
      "failed",
      `KV ${operation} on '${this.bucket}' failed: ${String(cause)}`,
      cause,
    );
  }
}
