/**
 * Wire shapes of `trellis.state@v1` (runtime spec §5.5), mirroring the contract's schemas, and the
 * envelope stored in the `trellis_state` bucket. The runtime does not depend on the builtin contracts
 * package: servers and clients are handed the `trellis.state@v1` module and validate with its schemas.
 */

/** Limits every state request is held to. */
export const STATE_LIMITS = {
  /** Largest key (map key or list prefix), UTF-8 bytes. */
  maxKeyBytes: 512,
  /** Largest JSON-encoded value, bytes (64 KiB). */
  maxValueBytes: 64 * 1024,
  /** Largest page of `State.List`. */
  maxListLimit: 100,
} as const;

/** The state version of a store that declares none. */
export const DEFAULT_STATE_VERSION = "v1";

/** One public entry. */
export interface StateEntryWire {
  /** Key of a map store's entry; absent for value stores. */
  key?: string;
  /** The stored value. */
  value: unknown;
  /** Opaque revision for compare-and-set. */
  revision: string;
  /** When it was written (ISO 8601). */
  updatedAt: string;
  /** When it stops existing (ISO 8601). */
  expiresAt?: string;
}

/** An entry written under another state version than the reader's contract declares. */
export interface StateMigrationRequiredWire {
  migrationRequired: true;
  /** Version the entry was written with. */
  stateVersion: string;
  /** Version the reader's contract declares. */
  currentStateVersion: string;
  /** Digest of the contract that wrote it. */
  writerContractDigest: string;
  entry: StateEntryWire;
}

/** Result of `State.Get` / `State.Admin.Get`. */
export type StateReadWire =
  | { found: false }
  | { found: true; entry: StateEntryWire }
  | StateMigrationRequiredWire;

/** Result of `State.Put`. */
export type StatePutWire =
  | { applied: true; entry: StateEntryWire }
  | { applied: false; found: boolean; entry?: StateEntryWire | StateMigrationRequiredWire };

/** Result of `State.List` / `State.Admin.List`. */
export interface StatePageWire {
  entries: (StateEntryWire | StateMigrationRequiredWire)[];
  /** Entries in this page. */
  count: number;
  offset: number;
  limit: number;
  /** Offset of the next page, when more entries follow. */
  nextOffset?: number;
}

/** Result of `State.Delete` / `State.Admin.Delete`. */
export interface StateDeleteWire {
  deleted: boolean;
}

/** Input of `State.Get`. */
export interface StateGetInput {
  store: string;
  key?: string;
}

/** Input of `State.Put`. */
export interface StatePutInput {
  store: string;
  key?: string;
  value: unknown;
  /** Omitted: overwrite; `null`: only if absent; a revision: only if it still matches. */
  expectedRevision?: string | null;
  /** Time to live of this entry, ms. */
  ttlMs?: number;
}

/** Input of `State.List`. */
export interface StateListInput {
  store: string;
  prefix?: string;
  offset?: number;
  limit: number;
}

/** Input of `State.Delete`. */
export interface StateDeleteInput {
  store: string;
  key?: string;
  expectedRevision?: string;
}

/** A user as an administrator names them. */
export interface StateUserTarget {
  /** Identity id within the origin. */
  id: string;
  /** Identity provider. */
  origin: string;
  /** Trellis user id, when known. */
  userId?: string;
}

/** Whose state, of which contract and store, an administrator addresses. */
export type StateAdminTarget = (
  | { scope: "userApp"; user: StateUserTarget }
  | { scope: "deviceApp"; deviceId: string }
) & { contractId: string; contractDigest: string; store: string };

/** Input of `State.Admin.Get`. */
export type StateAdminGetInput = StateAdminTarget & { key?: string };

/** Input of `State.Admin.List`. */
export type StateAdminListInput = StateAdminTarget & { prefix?: string; offset?: number; limit: number };

/** Input of `State.Admin.Delete`. */
export type StateAdminDeleteInput = StateAdminTarget & { key?: string; expectedRevision?: string };

/** What the `trellis_state` bucket holds for each entry. */
export interface StateEnvelope {
  value: unknown;
  /** ISO 8601. */
  updatedAt: string;
  /** ISO 8601; the entry is absent from then on. */
  expiresAt?: string;
  /** State version of the store when written. */
  stateVersion: string;
  /** Digest of the writer's contract. */
  writerContractDigest: string;
}
