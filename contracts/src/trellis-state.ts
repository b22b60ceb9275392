/**
 * `trellis.state@v1`: Trellis-managed state stores of apps and devices. Participants read and write
 * their own scope; administrators can inspect and delete values in any user's or device's scope.
 */
import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";

const NonEmpty = z.string().min(1);
const Timestamp = z.iso.datetime({ offset: true });
const NonNegativeInt = z.int().min(0);

/** Any JSON value. */
export const JsonValue = z.unknown();

/** Whose state an administrator addresses: a user of an app, or a device. */
export const StateScope = z.enum(["userApp", "deviceApp"]);

/** A user, as an administrator names them when addressing their app state. */
export const StateUserTarget = z.object({
  /** Identity id within the origin. */
  id: NonEmpty,
  /** Identity provider the id belongs to. */
  origin: NonEmpty,
  /** Trellis user id, when already known. */
  userId: NonEmpty.optional(),
});

/** One stored value with its revision metadata. */
export const StateEntry = z.object({
  /** Key of the entry in a map store; absent for value stores. */
  key: NonEmpty.optional(),
  value: JsonValue,
  /** Opaque revision, usable for compare-and-set writes. */
  revision: NonEmpty,
  updatedAt: Timestamp,
  expiresAt: Timestamp.optional(),
});

/** An entry written under a state version the caller's contract no longer accepts as is. */
export const StateMigrationRequired = z.object({
  migrationRequired: z.literal(true),
  /** State version the entry was written with. */
  stateVersion: NonEmpty,
  /** State version the caller's contract currently declares. */
  currentStateVersion: NonEmpty,
  /** Digest of the contract that wrote the entry. */
  writerContractDigest: NonEmpty,
  entry: StateEntry,
});

/** The result of reading one value. */
const StateReadResult = z.union([
  z.object({ found: z.literal(false) }),
  z.object({ found: z.literal(true), entry: StateEntry }),
  StateMigrationRequired,
]);

/** A page of entries; `nextOffset` is present when more entries follow. */
const StatePage = z.object({
  entries: z.array(z.union([StateEntry, StateMigrationRequired])).default([]),
  count: NonNegativeInt,
  offset: NonNegativeInt,
  limit: NonNegativeInt,
  nextOffset: NonNegativeInt.optional(),
});

const Deleted = z.object({ deleted: z.boolean() });

// ---------------------------------------------------------------------------------------------
// Caller-scoped RPCs

export const StateGetRequest = z.object({ store: NonEmpty, key: NonEmpty.optional() });
export const StateGetResponse = StateReadResult;

export const StatePutRequest = z.object({
  store: NonEmpty,
  key: NonEmpty.optional(),
  value: JsonValue,
  /** Write only if the current revision matches; `null` means "only if absent". */
  expectedRevision: NonEmpty.nullable().optional(),
  ttlMs: z.int().min(1).optional(),
});
export const StatePutResponse = z.union([
  z.object({ applied: z.literal(true), entry: StateEntry }),
  z.object({
    applied: z.literal(false),
    found: z.boolean(),
    /** The current entry that prevented the write, when there is one. */
    entry: z.union([StateEntry, StateMigrationRequired]).optional(),
  }),
]);

export const StateListRequest = z.object({
  store: NonEmpty,
  prefix: NonEmpty.optional(),
  offset: NonNegativeInt.optional(),
  limit: NonNegativeInt,
});
export const StateListResponse = StatePage;

export const StateDeleteRequest = z.object({
  store: NonEmpty,
  key: NonEmpty.optional(),
  expectedRevision: NonEmpty.optional(),
});
export const StateDeleteResponse = Deleted;

// ---------------------------------------------------------------------------------------------
// Admin RPCs: the same operations, addressed to a user's or a device's scope of an app contract.

const AdminTarget = { contractId: NonEmpty, contractDigest: NonEmpty, store: NonEmpty };
const UserScope = { scope: z.literal("userApp"), user: StateUserTarget };
const DeviceScope = { scope: z.literal("deviceApp"), deviceId: NonEmpty };

/** Builds the admin request union from the fields specific to one RPC. */
function adminRequest<F extends z.ZodRawShape>(fields: F) {
  return z.union([
    z.object({ ...UserScope, ...AdminTarget, ...fields }),
    z.object({ ...DeviceScope, ...AdminTarget, ...fields }),
  ]);
}

export const StateAdminGetRequest = adminRequest({ key: NonEmpty.optional() });
export const StateAdminGetResponse = StateReadResult;

export const StateAdminListRequest = adminRequest({
  prefix: NonEmpty.optional(),
  offset: NonNegativeInt.optional(),
  limit: NonNegativeInt,
});
export const StateAdminListResponse = StatePage;

export const StateAdminDeleteRequest = adminRequest({
  key: NonEmpty.optional(),
  expectedRevision: NonEmpty.optional(),
});
export const StateAdminDeleteResponse = Deleted;

// ---------------------------------------------------------------------------------------------

/** The `trellis.state@v1` contract module. */
export const trellisState = defineServiceContract(
  {
    schemas: {
      JsonValue,
      StateScope,
      StateUserTarget,
      StateEntry,
      StateMigrationRequired,
      StateGetRequest,
      StateGetResponse,
      StatePutRequest,
      StatePutResponse,
      StateListRequest,
      StateListResponse,
      StateDeleteRequest,
      StateDeleteResponse,
      StateAdminGetRequest,
      StateAdminGetResponse,
      StateAdminListRequest,
      StateAdminListResponse,
      StateAdminDeleteRequest,
      StateAdminDeleteResponse,
    },
  },
  (ref) => ({
    id: "trellis.state@v1",
    displayName: "Trellis State",
    description: "State storage that Trellis manages for authenticated apps and devices.",
    docs: {
      summary: "Storage for participant state.",
      markdown:
        "Authenticated apps and devices read, write, list and delete values in their own state " +
        "scope; administrators get read, list and delete access across scopes for inspection.",
    },
    rpc: {
      "State.Get": {
        version: "v1",
        input: ref.schema("StateGetRequest"),
        output: ref.schema("StateGetResponse"),
        errors: [ref.error("AuthError"), ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "Read one value.",
          markdown: "Returns a single value from the caller's own state scope.",
        },
      },
      "State.Put": {
        version: "v1",
        input: ref.schema("StatePutRequest"),
        output: ref.schema("StatePutResponse"),
        errors: [ref.error("AuthError"), ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "Write one value.",
          markdown:
            "Creates or replaces a value in a scope the caller may write, optionally only when the " +
            "stored revision matches.",
        },
      },
      "State.List": {
        version: "v1",
        input: ref.schema("StateListRequest"),
        output: ref.schema("StateListResponse"),
        errors: [ref.error("AuthError"), ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "List values.",
          markdown: "Pages through the caller's values in a store, optionally restricted to a key prefix.",
        },
      },
      "State.Delete": {
        version: "v1",
        input: ref.schema("StateDeleteRequest"),
        output: ref.schema("StateDeleteResponse"),
        errors: [ref.error("AuthError"), ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "Delete one value.",
          markdown: "Removes a single value from the caller's own state scope.",
        },
      },
      "State.Admin.Get": {
        version: "v1",
        input: ref.schema("StateAdminGetRequest"),
        output: ref.schema("StateAdminGetResponse"),
        capabilities: { call: ["admin"] },
        errors: [ref.error("AuthError"), ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "Read any participant's value.",
          markdown: "Lets an administrator read one value from a given user's or device's state scope.",
        },
      },
      "State.Admin.List": {
        version: "v1",
        input: ref.schema("StateAdminListRequest"),
        output: ref.schema("StateAdminListResponse"),
        capabilities: { call: ["admin"] },
        errors: [ref.error("AuthError"), ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "List any participant's values.",
          markdown:
            "Lets an administrator page through the values of a given user's or device's state scope.",
        },
      },
      "State.Admin.Delete": {
        version: "v1",
        input: ref.schema("StateAdminDeleteRequest"),
        output: ref.schema("StateAdminDeleteResponse"),
        capabilities: { call: ["admin"] },
        errors: [ref.error("AuthError"), ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "Delete any participant's value.",
          markdown: "Lets an administrator remove one value from a given user's or device's state scope.",
        },
      },
    },
  }),
);
