/**
 * The state client of an app or device (runtime spec §5.5): one handle per `state` store its contract
 * declares, calling `rpc.v1.State.*` of `trellis.state@v1`. Values are validated against the store's
 * schema before every write and after every read; entries written under another state version come back
 * as migration-required, validated against the matching `acceptedVersions` schema when there is one.
 */
import type { ContractModule, RpcDescriptor, StateStore } from "@trellis/contracts";
import { AsyncResult, type BaseError, Result } from "@trellis/result";
import { ValidationError } from "../errors/errors.js";
import type { RpcClient } from "../rpc/client.js";
import { SchemaSet } from "../validation/schemas.js";
import {
  STATE_LIMITS,
  type StateDeleteWire,
  type StateEntryWire,
  type StateMigrationRequiredWire,
  type StatePageWire,
  type StatePutWire,
  type StateReadWire,
} from "./types.js";

/** One entry of a store. */
export interface StateEntry<T> {
  /** Map key (relative to the handle's prefix); absent for value stores. */
  key?: string;
  /** The validated value. */
  value: T;
  /** Revision, for `expectedRevision`. */
  revision: string;
  /** When it was written (ISO 8601). */
  updatedAt: string;
  /** When it expires (ISO 8601). */
  expiresAt?: string;
}

/** An entry written under another state version: the app must migrate it (read, convert, put). */
export interface StateMigration {
  migrationRequired: true;
  /** Version it was written with. */
  stateVersion: string;
  /** Version this contract declares. */
  currentStateVersion: string;
  /** Digest of the contract that wrote it. */
  writerContractDigest: string;
  /** The entry; its value was validated against `acceptedVersions[stateVersion]` when `accepted`. */
  entry: StateEntry<unknown>;
  /** Whether the contract declares `stateVersion` in `acceptedVersions` (and the value matched it). */
  accepted: boolean;
}

/** Result of a read. */
export type StateRead<T> = { found: false } | { found: true; entry: StateEntry<T> } | StateMigration;

/** Result of a write. */
export type StatePutResult<T> =
  | { applied: true; entry: StateEntry<T> }
  | { applied: false; found: boolean; entry?: StateEntry<T> | StateMigration };

/** A page of a map store. */
export interface StatePage<T> {
  entries: (StateEntry<T> | StateMigration)[];
  /** Entries in this page. */
  count: number;
  offset: number;
  limit: number;
  /** Offset of the next page, when more entries follow. */
  nextOffset?: number;
}

/** Conditions and lifetime of a write. */
export interface StatePutOptions {
  /** Omitted: overwrite; `null`: only if absent; a revision: only if it still matches. */
  expectedRevision?: string | null;
  /** Lifetime of this entry, ms; expired entries are absent. */
  ttlMs?: number;
}

/** Condition of a delete. */
export interface StateDeleteOptions {
  /** Delete only if the entry is still at this revision. */
  expectedRevision?: string;
}

/** Paging of a list. */
export interface StateListOptions {
  /** Only keys starting with this. */
  prefix?: string;
  /** Live entries to skip (default 0). */
  offset?: number;
  /** Page size, at most 100 (default 100). */
  limit?: number;
}

/** A `kind: "value"` store: one value. */
export interface ValueStateStore<T> {
  readonly kind: "value";
  readonly name: string;
  get(): AsyncResult<StateRead<T>, BaseError>;
  put(value: T, options?: StatePutOptions): AsyncResult<StatePutResult<T>, BaseError>;
  delete(options?: StateDeleteOptions): AsyncResult<StateDeleteWire, BaseError>;
}

/** A `kind: "map"` store: values by key (keys may hold `/`-separated paths). */
export interface MapStateStore<T> {
  readonly kind: "map";
  readonly name: string;
  /** The path prefix of this handle (`""` at the root). */
  readonly path: string;
  get(key: string): AsyncResult<StateRead<T>, BaseError>;
  put(key: string, value: T, options?: StatePutOptions): AsyncResult<StatePutResult<T>, BaseError>;
  delete(key: string, options?: StateDeleteOptions): AsyncResult<StateDeleteWire, BaseError>;
  list(options?: StateListOptions): AsyncResult<StatePage<T>, BaseError>;
  /** The same store under a path: `prefix("a/b").get("c")` reads key `a/b/c`; keys come back relative. */
  prefix(path: string): MapStateStore<T>;
}

/** Any store handle. */
export type StateStoreHandle<T = unknown> = ValueStateStore<T> | MapStateStore<T>;

/** Options of {@link StateClient}. */
export interface StateClientOptions {
  /** Signs and sends the RPCs. */
  rpc: RpcClient;
  /** The app or device contract declaring `state`. */
  contract: Pick<ContractModule, "CONTRACT">;
  /** The `trellis.state@v1` module (from `@trellis/builtin-contracts` or a generated SDK). */
  stateContract: Pick<ContractModule, "CONTRACT" | "API">;
  /** Validators of `contract` (default: built from its manifest). */
  schemas?: SchemaSet;
  /** Validators of `stateContract` (default: built from its manifest). */
  stateSchemas?: SchemaSet;
  /** Per-call timeout, ms. */
  timeoutMs?: number;
}

/** Joins `/`-separated path segments, dropping empty ones: `join("a/", "/b")` is `a/b`. */
export function joinStatePath(...segments: string[]): string {
  return segments
    .flatMap((segment) => segment.split("/"))
    .filter((part) => part !== "")
    .join("/");
}

type Method = "State.Get" | "State.Put" | "State.Delete" | "State.List";
const METHODS: readonly Method[] = ["State.Get", "State.Put", "State.Delete", "State.List"];

/** The state stores of one app or device contract. */
export class StateClient {
  /** A handle per declared store, by name. */
  readonly state: Readonly<Record<string, StateStoreHandle>>;
  private readonly schemas: SchemaSet;
  private readonly stateSchemas: SchemaSet;
  private readonly descriptors: Record<Method, RpcDescriptor>;

  constructor(private readonly options: StateClientOptions) {
    this.schemas = options.schemas ?? SchemaSet.of(options.contract.CONTRACT);
    this.stateSchemas = options.stateSchemas ?? SchemaSet.of(options.stateContract.CONTRACT);
    const rpc: Record<string, RpcDescriptor> = options.stateContract.API.owned.rpc;
    const found: Partial<Record<Method, RpcDescriptor>> = {};
    for (const method of METHODS) {
      const descriptor = rpc[method];
      if (!descriptor) {
        throw new Error(`stateContract '${options.stateContract.CONTRACT.id}' does not own '${method}'`);
      }
      found[method] = descriptor;
    }
    this.descriptors = found as Record<Method, RpcDescriptor>;
    const handles: Record<string, StateStoreHandle> = {};
    for (const [name, store] of Object.entries(options.contract.CONTRACT.state ?? {})) {
      handles[name] = store.kind === "value" ? this.valueStore(name, store) : this.mapStore(name, store, "");
    }
    this.state = handles;
  }

  /** The value store `name`; throws when the contract declares no such value store. */
  value<T = unknown>(name: string): ValueStateStore<T> {
    const handle = this.state[name];
    if (handle?.kind !== "value") throw new Error(`The contract declares no value store '${name}'`);
    // Handles are built untyped from the manifest; the caller names the value type.
    return handle as ValueStateStore<T>;
  }

  /** The map store `name`; throws when the contract declares no such map store. */
  map<T = unknown>(name: string): MapStateStore<T> {
    const handle = this.state[name];
    if (handle?.kind !== "map") throw new Error(`The contract declares no map store '${name}'`);
    return handle as MapStateStore<T>;
  }

  private valueStore(name: string, store: StateStore): ValueStateStore<unknown> {
    return {
      kind: "value",
      name,
      get: () => this.get(name, store, undefined, ""),
      put: (value, options = {}) => this.put(name, store, undefined, "", value, options),
      delete: (options = {}) => this.delete(name, undefined, options),
    };
  }

  private mapStore(name: string, store: StateStore, path: string): MapStateStore<unknown> {
    const full = (key: string) => joinStatePath(path, key);
    return {
      kind: "map",
      name,
      path,
      get: (key) => this.get(name, store, full(key), path),
      put: (key, value, options = {}) => this.put(name, store, full(key), path, value, options),
      delete: (key, options = {}) => this.delete(name, full(key), options),
      list: (options = {}) => this.list(name, store, path, options),
      prefix: (sub) => this.mapStore(name, store, joinStatePath(path, sub)),
    };
  }

  // -------------------------------------------------------------------------------------------

  private get(
    name: string,
    store: StateStore,
    key: string | undefined,
    path: string,
  ): AsyncResult<StateRead<unknown>, BaseError> {
    return this.call<StateReadWire>("State.Get", { store: name, ...(key !== undefined && { key }) }).andThen(
      (read): Result<StateRead<unknown>, BaseError> => {
        if ("migrationRequired" in read) return this.migration(name, store, read, path);
        if (!read.found) return Result.ok({ found: false as const });
        return this.entry(name, store, read.entry, path).map((entry) => ({ found: true as const, entry }));
      },
    );
  }

  private put(
    name: string,
    store: StateStore,
    key: string | undefined,
    path: string,
    value: unknown,
    options: StatePutOptions,
  ): AsyncResult<StatePutResult<unknown>, BaseError> {
    const valid = this.schemas.validate(store.schema.schema, value);
    if (valid.isErr()) return AsyncResult.err(withStore(valid.error, name, key));
    const input = {
      store: name,
      ...(key !== undefined && { key }),
      value: valid.value,
      ...(options.expectedRevision !== undefined && { expectedRevision: options.expectedRevision }),
      ...(options.ttlMs !== undefined && { ttlMs: options.ttlMs }),
    };
    return this.call<StatePutWire>("State.Put", input).andThen(
      (result): Result<StatePutResult<unknown>, BaseError> => {
        if (result.applied) {
          return this.entry(name, store, result.entry, path).map((entry) => ({
            applied: true as const,
            entry,
          }));
        }
        if (!result.entry) return Result.ok({ applied: false, found: result.found });
        const current = this.entryOrMigration(name, store, result.entry, path);
        return current.map((entry) => ({ applied: false as const, found: result.found, entry }));
      },
    );
  }

  private delete(
    name: string,
    key: string | undefined,
    options: StateDeleteOptions,
  ): AsyncResult<StateDeleteWire, BaseError> {
    return this.call<StateDeleteWire>("State.Delete", {
      store: name,
      ...(key !== undefined && { key }),
      ...(options.expectedRevision !== undefined && { expectedRevision: options.expectedRevision }),
    });
  }

  private list(
    name: string,
    store: StateStore,
    path: string,
    options: StateListOptions,
  ): AsyncResult<StatePage<unknown>, BaseError> {
    const own = options.prefix ?? "";
    const prefix = path === "" ? own : `${path}/${own}`;
    const input = {
      store: name,
      ...(prefix !== "" && { prefix }),
      ...(options.offset !== undefined && { offset: options.offset }),
      limit: options.limit ?? STATE_LIMITS.maxListLimit,
    };
    return this.call<StatePageWire>("State.List", input).andThen((page) => {
      const entries: (StateEntry<unknown> | StateMigration)[] = [];
      for (const wire of page.entries) {
        const entry = this.entryOrMigration(name, store, wire, path);
        if (entry.isErr()) return Result.err(entry.error);
        entries.push(entry.value);
      }
      return Result.ok({
        entries,
        count: page.count,
        offset: page.offset,
        limit: page.limit,
        ...(page.nextOffset !== undefined && { nextOffset: page.nextOffset }),
      });
    });
  }

  // -------------------------------------------------------------------------------------------

  private call<T>(method: Method, input: unknown): AsyncResult<T, BaseError> {
    const { timeoutMs } = this.options;
    return this.options.rpc.request<T>(
      method,
      this.descriptors[method],
      this.stateSchemas,
      input,
      timeoutMs === undefined ? {} : { timeoutMs },
    );
  }

  private entryOrMigration(
    name: string,
    store: StateStore,
    wire: StateEntryWire | StateMigrationRequiredWire,
    path: string,
  ): Result<StateEntry<unknown> | StateMigration, ValidationError> {
    return "migrationRequired" in wire
      ? this.migration(name, store, wire, path)
      : this.entry(name, store, wire, path);
  }

  /** Validates a current-version entry and makes its key relative to `path`. */
  private entry(
    name: string,
    store: StateStore,
    wire: StateEntryWire,
    path: string,
    schema: string = store.schema.schema,
  ): Result<StateEntry<unknown>, ValidationError> {
    const valid = this.schemas.validate(schema, wire.value);
    if (valid.isErr()) return Result.err(withStore(valid.error, name, wire.key, wire.revision));
    const key = wire.key === undefined ? undefined : relativeKey(path, wire.key);
    return Result.ok({
      ...(key !== undefined && { key }),
      value: valid.value,
      revision: wire.revision,
      updatedAt: wire.updatedAt,
      ...(wire.expiresAt !== undefined && { expiresAt: wire.expiresAt }),
    });
  }

  private migration(
    name: string,
    store: StateStore,
    wire: StateMigrationRequiredWire,
    path: string,
  ): Result<StateMigration, ValidationError> {
    const accepted = store.acceptedVersions?.[wire.stateVersion];
    const { migrationRequired, stateVersion, currentStateVersion, writerContractDigest } = wire;
    const base = { migrationRequired, stateVersion, currentStateVersion, writerContractDigest };
    if (accepted) {
      return this.entry(name, store, wire.entry, path, accepted.schema).map((entry) => ({
        ...base,
        entry,
        accepted: true,
      }));
    }
    const key = wire.entry.key === undefined ? undefined : relativeKey(path, wire.entry.key);
    return Result.ok({
      ...base,
      entry: { ...wire.entry, ...(key !== undefined && { key }) },
      accepted: false,
    });
  }
}

function relativeKey(path: string, key: string): string {
  return path !== "" && key.startsWith(`${path}/`) ? key.slice(path.length + 1) : key;
}

function withStore(error: ValidationError, store: string, key?: string, revision?: string): ValidationError {
  return new ValidationError(error.issues, {
    context: {
      ...error.context,
      store,
      ...(key !== undefined && { key }),
      ...(revision !== undefined && { revision }),
    },
  });
}
