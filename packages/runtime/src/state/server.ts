/**
 * The Trellis-owned state service (runtime spec §5.5): the handlers of `State.Get/Put/Delete/List` and
 * `State.Admin.Get/List/Delete` over the `trellis_state` KV bucket, mounted on an {@link RpcServer}
 * that serves the `trellis.state@v1` contract (the RPC server validates inputs and outputs against
 * that contract and enforces the `admin` capability of the admin RPCs).
 *
 * **Who the caller is.** The namespace comes from the session, never from the request: the caller's
 * `type` (`user` or `device`) and `id` (user id or device instance id), and the app or device contract
 * of the session, which the session authority's record carries on its caller as `contractId` (lineage
 * id) and `contractDigest`. A caller without them (a service, or a record lacking the contract) is
 * refused with `AuthError` reason `forbidden`.
 *
 * **Which stores exist.** A {@link StateStoreResolver} answers, for a contract id and digest, the kind
 * and current state version of a store (see {@link stateStoresFromContracts}).
 *
 * **Revisions** are the bucket's sequence numbers, as decimal strings. An entry whose `expiresAt` has
 * passed is absent everywhere, and is deleted opportunistically when met.
 */

import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ContractModule } from "@trellis/contracts";
import { type BaseError, Result, UnexpectedError } from "@trellis/result";
import { z } from "zod";
import { AuthError, ValidationError } from "../errors/errors.js";
import { isWrongLastSequence } from "../kv/jetstream-errors.js";
import type { RpcContext, RpcHandler, RpcServer } from "../rpc/server.js";
import type { Logger } from "../telemetry/logger.js";
import {
  mapKeyOf,
  STATE_BUCKET,
  type StateNamespace,
  type StateOwnerType,
  stateEntryKey,
  stateStorePrefix,
} from "./namespace.js";
import {
  DEFAULT_STATE_VERSION,
  STATE_LIMITS,
  type StateAdminDeleteInput,
  type StateAdminGetInput,
  type StateAdminListInput,
  type StateAdminTarget,
  type StateDeleteInput,
  type StateDeleteWire,
  type StateEntryWire,
  type StateEnvelope,
  type StateGetInput,
  type StateListInput,
  type StateMigrationRequiredWire,
  type StatePageWire,
  type StatePutInput,
  type StatePutWire,
  type StateReadWire,
  type StateUserTarget,
} from "./types.js";

/** What the server needs to know about a store. */
export interface StateStoreInfo {
  /** `value`: one entry; `map`: entries by key. */
  kind: "value" | "map";
  /** The store's current state version. */
  stateVersion: string;
}

/** Identifies a store of a contract. */
export interface StateStoreRef {
  /** Contract lineage id. */
  contractId: string;
  /** Digest of the contract version in use. */
  contractDigest: string;
  /** Store name. */
  store: string;
}

/** Looks up a store; `undefined` when the contract declares no such store. */
export type StateStoreResolver = (
  ref: StateStoreRef,
) => StateStoreInfo | undefined | Promise<StateStoreInfo | undefined>;

/**
 * A resolver over known contract modules: the module with the exact digest when known, otherwise the
 * last given module of the same lineage id.
 */
export function stateStoresFromContracts(
  modules: Iterable<Pick<ContractModule, "CONTRACT" | "CONTRACT_DIGEST">>,
): StateStoreResolver {
  const byDigest = new Map<string, ContractModule["CONTRACT"]>();
  const byId = new Map<string, ContractModule["CONTRACT"]>();
  for (const module of modules) {
    byDigest.set(module.CONTRACT_DIGEST, module.CONTRACT);
    byId.set(module.CONTRACT.id, module.CONTRACT);
  }
  return ({ contractId, contractDigest, store }) => {
    const manifest = byDigest.get(contractDigest) ?? byId.get(contractId);
    if (!manifest || manifest.id !== contractId) return undefined;
    const declared = manifest.state?.[store];
    if (!declared) return undefined;
    return { kind: declared.kind, stateVersion: declared.stateVersion ?? DEFAULT_STATE_VERSION };
  };
}

/** Options of {@link StateServer}. */
export interface StateServerOptions {
  /** Connection with access to the state bucket. */
  nc: NatsConnection;
  /** Kind and version of each store. */
  resolveStore: StateStoreResolver;
  /**
   * Trellis user id of an administrator's user target that has no `userId`; without it such targets
   * are refused with a `ValidationError`.
   */
  resolveUserId?: (user: StateUserTarget) => string | undefined | Promise<string | undefined>;
  /** Bucket name (default `trellis_state`); bound to, never created. */
  bucket?: string;
  /** Clock, ms since epoch. */
  now?: () => number;
  /** Logger. */
  logger?: Logger;
}

/** The state RPC methods, by name. */
export const STATE_METHODS = [
  "State.Get",
  "State.Put",
  "State.Delete",
  "State.List",
  "State.Admin.Get",
  "State.Admin.List",
  "State.Admin.Delete",
] as const;

/** Handlers of every state RPC. */
export interface StateHandlers {
  "State.Get": RpcHandler<StateGetInput, StateReadWire>;
  "State.Put": RpcHandler<StatePutInput, StatePutWire>;
  "State.Delete": RpcHandler<StateDeleteInput, StateDeleteWire>;
  "State.List": RpcHandler<StateListInput, StatePageWire>;
  "State.Admin.Get": RpcHandler<StateAdminGetInput, StateReadWire>;
  "State.Admin.List": RpcHandler<StateAdminListInput, StatePageWire>;
  "State.Admin.Delete": RpcHandler<StateAdminDeleteInput, StateDeleteWire>;
}

/** A resolved store of one owner, ready for reads and writes. */
interface Scope {
  ns: StateNamespace;
  info: StateStoreInfo;
  /** Digest stamped on writes (the writer's contract). */
  contractDigest: string;
}

/** A live (present, unexpired) entry. */
interface Live {
  envelope: StateEnvelope;
  revision: number;
}

/** What the bucket holds for one key. */
interface Current {
  live?: Live;
  /** Revision of an expired entry still stored (it must be replaced with compare-and-set). */
  expiredRevision?: number;
}

const EnvelopeSchema = z.object({
  value: z.unknown(),
  updatedAt: z.string().min(1),
  expiresAt: z.string().min(1).optional(),
  stateVersion: z.string().min(1),
  writerContractDigest: z.string().min(1),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function invalid(path: string, message: string): ValidationError {
  return new ValidationError([{ path, message }]);
}

function byteLength(value: string): number {
  return encoder.encode(value).length;
}

/** Serves the Trellis state RPCs. */
export class StateServer {
  /** The handlers, for mounting on any RPC server of `trellis.state@v1`. */
  readonly handlers: StateHandlers;
  private kvPromise: Promise<KV> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: StateServerOptions) {
    this.now = options.now ?? Date.now;
    this.handlers = {
      "State.Get": ({ input, context }) =>
        this.guard(async () => {
          const scope = await this.callerScope(context, input.store, input.key);
          return scope.isErr() ? Result.err(scope.error) : this.get(scope.value, input.key);
        }),
      "State.Put": ({ input, context }) =>
        this.guard(async () => {
          const scope = await this.callerScope(context, input.store, input.key);
          return scope.isErr() ? Result.err(scope.error) : this.put(scope.value, input);
        }),
      "State.Delete": ({ input, context }) =>
        this.guard(async () => {
          const scope = await this.callerScope(context, input.store, input.key);
          return scope.isErr()
            ? Result.err(scope.error)
            : this.delete(scope.value, input.key, input.expectedRevision);
        }),
      "State.List": ({ input, context }) =>
        this.guard(async () => {
          const scope = await this.callerScope(context, input.store, undefined, "list");
          return scope.isErr() ? Result.err(scope.error) : this.list(scope.value, input);
        }),
      "State.Admin.Get": ({ input }) =>
        this.guard(async () => {
          const scope = await this.adminScope(input, input.key);
          return scope.isErr() ? Result.err(scope.error) : this.get(scope.value, input.key);
        }),
      "State.Admin.List": ({ input }) =>
        this.guard(async () => {
          const scope = await this.adminScope(input, undefined, "list");
          return scope.isErr() ? Result.err(scope.error) : this.list(scope.value, input);
        }),
      "State.Admin.Delete": ({ input }) =>
        this.guard(async () => {
          const scope = await this.adminScope(input, input.key);
          return scope.isErr()
            ? Result.err(scope.error)
            : this.delete(scope.value, input.key, input.expectedRevision);
        }),
    };
  }

  /** Mounts every state RPC on `rpc`, whose contract must own them (`trellis.state@v1`). */
  mount(rpc: RpcServer): void {
    const h = this.handlers;
    rpc.mount("State.Get", h["State.Get"], {});
    rpc.mount("State.Put", h["State.Put"], {});
    rpc.mount("State.Delete", h["State.Delete"], {});
    rpc.mount("State.List", h["State.List"], {});
    rpc.mount("State.Admin.Get", h["State.Admin.Get"], {});
    rpc.mount("State.Admin.List", h["State.Admin.List"], {});
    rpc.mount("State.Admin.Delete", h["State.Admin.Delete"], {});
  }

  // -------------------------------------------------------------------------------------------
  // Scopes

  private async callerScope(
    context: RpcContext,
    store: string,
    key: string | undefined,
    operation: "entry" | "list" = "entry",
  ): Promise<Result<Scope, BaseError>> {
    const { caller } = context;
    let ownerType: StateOwnerType;
    if (caller.type === "user") ownerType = "user";
    else if (caller.type === "device") ownerType = "device";
    else {
      return Result.err(
        new AuthError(
          "forbidden",
          `State is for apps and devices; a ${caller.type} caller uses resources.kv`,
        ),
      );
    }
    const { contractId, contractDigest } = caller;
    if (typeof contractId !== "string" || contractId === "" || typeof contractDigest !== "string") {
      return Result.err(
        new AuthError(
          "forbidden",
          "The session is not bound to an app or device contract (its caller has no contractId/contractDigest)",
        ),
      );
    }
    return this.scope({ ownerType, ownerId: caller.id, contractId, store }, contractDigest, key, operation);
  }

  private async adminScope(
    target: StateAdminTarget,
    key: string | undefined,
    operation: "entry" | "list" = "entry",
  ): Promise<Result<Scope, BaseError>> {
    let ownerType: StateOwnerType;
    let ownerId: string | undefined;
    if (target.scope === "userApp") {
      ownerType = "user";
      ownerId = target.user.userId ?? (await this.options.resolveUserId?.(target.user));
      if (!ownerId) {
        return Result.err(
          invalid(
            "/user/userId",
            this.options.resolveUserId
              ? `no user is known for identity '${target.user.origin}:${target.user.id}'`
              : "the user's Trellis id is required",
          ),
        );
      }
    } else {
      ownerType = "device";
      ownerId = target.deviceId;
    }
    const ns = { ownerType, ownerId, contractId: target.contractId, store: target.store };
    return this.scope(ns, target.contractDigest, key, operation);
  }

  private async scope(
    ns: StateNamespace,
    contractDigest: string,
    key: string | undefined,
    operation: "entry" | "list",
  ): Promise<Result<Scope, BaseError>> {
    const info = await this.options.resolveStore({
      contractId: ns.contractId,
      contractDigest,
      store: ns.store,
    });
    if (!info) {
      return Result.err(
        invalid("/store", `contract '${ns.contractId}' declares no state store '${ns.store}'`),
      );
    }
    if (operation === "list" && info.kind !== "map") {
      return Result.err(invalid("/store", `'${ns.store}' is a value store; only map stores can be listed`));
    }
    if (operation === "entry") {
      if (info.kind === "value" && key !== undefined) {
        return Result.err(invalid("/key", `'${ns.store}' is a value store; it takes no key`));
      }
      if (info.kind === "map" && key === undefined) {
        return Result.err(invalid("/key", `'${ns.store}' is a map store; a key is required`));
      }
    }
    if (key !== undefined && byteLength(key) > STATE_LIMITS.maxKeyBytes) {
      return Result.err(invalid("/key", `the key is longer than ${STATE_LIMITS.maxKeyBytes} bytes`));
    }
    return Result.ok({ ns, info, contractDigest });
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  private async get(scope: Scope, key: string | undefined): Promise<Result<StateReadWire, BaseError>> {
    const current = await this.read(stateEntryKey(scope.ns, key));
    if (current.isErr()) return Result.err(current.error);
    const live = current.value.live;
    return Result.ok(live ? this.toRead(scope, live, key) : { found: false });
  }

  private async put(scope: Scope, input: StatePutInput): Promise<Result<StatePutWire, BaseError>> {
    if (!("value" in input) || input.value === undefined)
      return Result.err(invalid("/value", "a value is required"));
    const nowMs = this.now();
    const envelope: StateEnvelope = {
      value: input.value,
      updatedAt: new Date(nowMs).toISOString(),
      ...(input.ttlMs !== undefined && { expiresAt: new Date(nowMs + input.ttlMs).toISOString() }),
      stateVersion: scope.info.stateVersion,
      writerContractDigest: scope.contractDigest,
    };
    let valueBytes: number;
    let data: Uint8Array;
    try {
      valueBytes = byteLength(JSON.stringify(input.value));
      data = encoder.encode(JSON.stringify(envelope));
    } catch (cause) {
      return Result.err(
        new ValidationError([{ path: "/value", message: "the value is not JSON" }], { cause }),
      );
    }
    if (valueBytes > STATE_LIMITS.maxValueBytes) {
      return Result.err(invalid("/value", `the value is larger than ${STATE_LIMITS.maxValueBytes} bytes`));
    }
    const bucketKey = stateEntryKey(scope.ns, input.key);
    const kv = await this.kv();
    const applied = (revision: number): Result<StatePutWire, BaseError> =>
      Result.ok({ applied: true, entry: this.toEntry({ envelope, revision }, input.key) });

    if (input.expectedRevision === undefined) return applied(await kv.put(bucketKey, data));

    // Create-if-absent retries when the key changed underneath without a live entry appearing (an
    // expired entry deleted meanwhile); every other conflict is reported as it stands.
    for (let attempt = 0; ; attempt++) {
      const current = await this.read(bucketKey, { cleanup: false });
      if (current.isErr()) return Result.err(current.error);
      const { live, expiredRevision } = current.value;
      try {
        if (input.expectedRevision === null) {
          if (live)
            return Result.ok({ applied: false, found: true, entry: this.toConflict(scope, live, input.key) });
          return applied(
            expiredRevision !== undefined
              ? await kv.update(bucketKey, data, expiredRevision)
              : await kv.create(bucketKey, data),
          );
        }
        if (!live) return Result.ok({ applied: false, found: false });
        if (String(live.revision) !== input.expectedRevision) {
          return Result.ok({ applied: false, found: true, entry: this.toConflict(scope, live, input.key) });
        }
        return applied(await kv.update(bucketKey, data, live.revision));
      } catch (cause) {
        if (!isWrongLastSequence(cause)) throw cause;
      }
      // Someone else wrote in between: report what is there now.
      const now = await this.read(bucketKey, { cleanup: false });
      if (now.isErr()) return Result.err(now.error);
      const winner = now.value.live;
      if (winner)
        return Result.ok({ applied: false, found: true, entry: this.toConflict(scope, winner, input.key) });
      if (input.expectedRevision !== null || attempt >= 2) return Result.ok({ applied: false, found: false });
    }
  }

  private async delete(
    scope: Scope,
    key: string | undefined,
    expectedRevision: string | undefined,
  ): Promise<Result<StateDeleteWire, BaseError>> {
    const bucketKey = stateEntryKey(scope.ns, key);
    const current = await this.read(bucketKey);
    if (current.isErr()) return Result.err(current.error);
    const { live } = current.value;
    if (!live) return Result.ok({ deleted: false });
    if (expectedRevision !== undefined && String(live.revision) !== expectedRevision) {
      return Result.ok({ deleted: false });
    }
    const kv = await this.kv();
    try {
      await kv.delete(bucketKey, expectedRevision === undefined ? {} : { previousSeq: live.revision });
    } catch (cause) {
      if (isWrongLastSequence(cause)) return Result.ok({ deleted: false });
      throw cause;
    }
    return Result.ok({ deleted: true });
  }

  private async list(
    scope: Scope,
    input: { prefix?: string; offset?: number; limit: number },
  ): Promise<Result<StatePageWire, BaseError>> {
    const offset = input.offset ?? 0;
    const { limit } = input;
    if (limit > STATE_LIMITS.maxListLimit) {
      return Result.err(
        invalid("/limit", `at most ${STATE_LIMITS.maxListLimit} entries can be listed at once`),
      );
    }
    if (input.prefix !== undefined && byteLength(input.prefix) > STATE_LIMITS.maxKeyBytes) {
      return Result.err(invalid("/prefix", `the prefix is longer than ${STATE_LIMITS.maxKeyBytes} bytes`));
    }
    const kv = await this.kv();
    const storePrefix = stateStorePrefix(scope.ns);
    const keys: string[] = [];
    for await (const bucketKey of await kv.keys(`${storePrefix}.*`)) {
      const key = mapKeyOf(storePrefix, bucketKey);
      if (key !== undefined && (input.prefix === undefined || key.startsWith(input.prefix))) keys.push(key);
    }
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

    // Offsets count live entries only, so entries are read in order until the page (plus one, to know
    // whether another page follows) is full.
    const wanted = offset + limit + 1;
    const live: { key: string; live: Live }[] = [];
    const batch = 16;
    for (let i = 0; i < keys.length && live.length < wanted; i += batch) {
      const slice = keys.slice(i, i + batch);
      const reads = await Promise.all(slice.map((key) => this.read(stateEntryKey(scope.ns, key))));
      for (const [index, read] of reads.entries()) {
        if (read.isErr()) return Result.err(read.error);
        const entry = read.value.live;
        const key = slice[index];
        if (entry && key !== undefined) live.push({ key, live: entry });
      }
    }
    const page = live.slice(offset, offset + limit);
    return Result.ok({
      entries: page.map(({ key, live: entry }) => this.toConflict(scope, entry, key)),
      count: page.length,
      offset,
      limit,
      ...(live.length > offset + limit && { nextOffset: offset + page.length }),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Bucket access

  private kv(): Promise<KV> {
    if (!this.kvPromise) {
      this.kvPromise = new Kvm(this.options.nc).open(this.options.bucket ?? STATE_BUCKET);
      this.kvPromise.catch(() => {
        this.kvPromise = undefined;
      });
    }
    return this.kvPromise;
  }

  /**
   * Reads one bucket key: its live entry, if any. Expired entries are deleted in the background unless
   * `cleanup` is false (a writer about to replace the entry with compare-and-set).
   */
  private async read(bucketKey: string, { cleanup = true } = {}): Promise<Result<Current, BaseError>> {
    const kv = await this.kv();
    const entry = await kv.get(bucketKey);
    if (entry?.operation !== "PUT") return Result.ok({});
    const envelope = this.parseEnvelope(bucketKey, entry);
    if (envelope.isErr()) return Result.err(envelope.error);
    const { expiresAt } = envelope.value;
    if (expiresAt !== undefined && Date.parse(expiresAt) <= this.now()) {
      if (cleanup) kv.delete(bucketKey, { previousSeq: entry.revision }).catch(() => undefined);
      return Result.ok({ expiredRevision: entry.revision });
    }
    return Result.ok({ live: { envelope: envelope.value, revision: entry.revision } });
  }

  private parseEnvelope(bucketKey: string, entry: KvEntry): Result<StateEnvelope, UnexpectedError> {
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(entry.value));
    } catch (cause) {
      return Result.err(
        new UnexpectedError("A stored state entry is not valid JSON", { cause, context: { key: bucketKey } }),
      );
    }
    const parsed = EnvelopeSchema.safeParse(raw);
    if (!parsed.success || typeof raw !== "object" || raw === null || !("value" in raw)) {
      this.options.logger?.error({ key: bucketKey }, "Malformed state envelope");
      return Result.err(
        new UnexpectedError("A stored state entry is malformed or unstamped", {
          context: { key: bucketKey, revision: entry.revision },
        }),
      );
    }
    const { value, updatedAt, expiresAt, stateVersion, writerContractDigest } = parsed.data;
    return Result.ok({
      value,
      updatedAt,
      ...(expiresAt !== undefined && { expiresAt }),
      stateVersion,
      writerContractDigest,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Wire shapes

  private toEntry(live: Live, key: string | undefined): StateEntryWire {
    const { envelope, revision } = live;
    return {
      ...(key !== undefined && { key }),
      value: envelope.value,
      revision: String(revision),
      updatedAt: envelope.updatedAt,
      ...(envelope.expiresAt !== undefined && { expiresAt: envelope.expiresAt }),
    };
  }

  /** The public form of a live entry, or its migration-required form under another state version. */
  private toConflict(
    scope: Scope,
    live: Live,
    key: string | undefined,
  ): StateEntryWire | StateMigrationRequiredWire {
    const entry = this.toEntry(live, key);
    if (live.envelope.stateVersion === scope.info.stateVersion) return entry;
    return {
      migrationRequired: true,
      stateVersion: live.envelope.stateVersion,
      currentStateVersion: scope.info.stateVersion,
      writerContractDigest: live.envelope.writerContractDigest,
      entry,
    };
  }

  private toRead(scope: Scope, live: Live, key: string | undefined): StateReadWire {
    const entry = this.toConflict(scope, live, key);
    return "migrationRequired" in entry ? entry : { found: true, entry };
  }

  /** Runs a handler body, turning anything thrown (storage failures) into `UnexpectedError`. */
  private async guard<T>(body: () => Promise<Result<T, BaseError>>): Promise<Result<T, BaseError>> {
    try {
      return await body();
    } catch (cause) {
      this.options.logger?.error({ err: cause }, "State storage failed");
      return Result.err(new UnexpectedError("State storage failed", { cause }));
    }
  }
}
