/**
 * `trellis.core@v1`: runtime RPCs every connected participant can reach — the contract catalog,
 * single contract manifests, a service's resource bindings and surface availability checks.
 */
import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";

const NonEmpty = z.string().min(1);
/** A base64url digest (of a contract manifest). */
const Digest = z.string().regex(/^[A-Za-z0-9_-]+$/);
const PositiveInt = z.int().min(1);
const NonNegativeInt = z.int().min(0);
/** An object whose contents this contract does not describe. */
const OpaqueObject = z.record(z.string(), z.unknown());
const Docs = z.object({ summary: z.string().optional(), markdown: z.string() });
const SchemaRef = z.object({ schema: NonEmpty });

// ---------------------------------------------------------------------------------------------
// Trellis.Bindings.Get

/** The resolved binding of one event consumer group. */
const EventConsumerBinding = z.object({
  stream: NonEmpty,
  consumerName: NonEmpty,
  filterSubjects: z.array(NonEmpty),
  replay: z.enum(["new", "all"]),
  ordering: z.literal("strict"),
  concurrency: PositiveInt,
  ackWaitMs: PositiveInt,
  maxDeliver: PositiveInt,
  backoffMs: z.array(NonNegativeInt),
});

/** The resolved binding of one job queue, with every default applied. */
const JobQueueBinding = z.object({
  queueType: NonEmpty,
  publishPrefix: NonEmpty,
  workSubject: NonEmpty,
  consumerName: NonEmpty,
  payload: SchemaRef,
  result: SchemaRef.optional(),
  maxDeliver: PositiveInt,
  backoffMs: z.array(NonNegativeInt),
  ackWaitMs: PositiveInt,
  defaultDeadlineMs: PositiveInt.optional(),
  progress: z.boolean(),
  logs: z.boolean(),
  dlq: z.boolean(),
  concurrency: PositiveInt,
});

/** Physical resources provisioned for a service contract. */
const ResourceBindings = z.object({
  kv: z
    .record(
      z.string(),
      z.object({
        bucket: NonEmpty,
        history: PositiveInt,
        ttlMs: NonNegativeInt,
        maxValueBytes: PositiveInt.optional(),
      }),
    )
    .optional(),
  store: z
    .record(
      z.string(),
      z.object({
        name: NonEmpty,
        ttlMs: NonNegativeInt,
        maxObjectBytes: PositiveInt.optional(),
        maxTotalBytes: PositiveInt.optional(),
      }),
    )
    .optional(),
  jobs: z
    .object({
      namespace: NonEmpty,
      workStream: NonEmpty.optional(),
      queues: z.record(z.string(), JobQueueBinding),
    })
    .optional(),
  eventConsumers: z.record(z.string(), EventConsumerBinding).optional(),
});

export const TrellisBindingsGetRequest = z.object({
  contractId: NonEmpty.optional(),
  digest: Digest.optional(),
});

export const TrellisBindingsGetResponse = z.object({
  binding: z
    .object({
      contractId: NonEmpty,
      digest: Digest,
      resources: ResourceBindings,
    })
    .optional(),
  eventConsumers: z.record(z.string(), EventConsumerBinding).optional(),
});

// ---------------------------------------------------------------------------------------------
// Trellis.Catalog

export const TrellisCatalogRequest = z.object({});

/** Something wrong with the active catalog that an administrator should resolve. */
const CatalogIssue = z.object({
  issueId: NonEmpty,
  kind: z.enum([
    "missing-active-contract",
    "invalid-active-contract",
    "incompatible-active-contract",
    "invalid-active-contract-uses",
  ]),
  message: NonEmpty,
  contractId: z.string().optional(),
  digest: z.string().optional(),
  deploymentIds: z.array(z.string()),
  effectiveDigests: z.array(z.string()).optional(),
  effectiveDeploymentIds: z.array(z.string()).optional(),
  conflictingDigest: z.string().optional(),
  conflictingDigests: z.array(z.string()).optional(),
  conflictingDeploymentIds: z.array(z.string()).optional(),
  /** Ways to resolve the issue. */
  actions: z.array(
    z.object({
      action: z.enum(["keep-current", "force-replace"]),
      label: NonEmpty,
      description: NonEmpty,
      risk: z.enum(["recommended", "dangerous"]),
      deploymentIds: z.array(z.string()),
      digests: z.array(z.string()),
    }),
  ),
});

export const TrellisCatalogResponse = z.object({
  catalog: z.object({
    format: z.literal("trellis.catalog.v1"),
    contracts: z.array(
      z.object({
        id: z.string(),
        digest: z.string(),
        displayName: NonEmpty,
        description: NonEmpty,
      }),
    ),
    issues: z.array(CatalogIssue).optional(),
  }),
});

// ---------------------------------------------------------------------------------------------
// Trellis.Contract.Get

export const TrellisContractGetRequest = z.object({ digest: Digest });

/**
 * A stored contract manifest. Only the envelope and the resource-like sections are described; the
 * surface sections and embedded schemas are passed through as opaque objects.
 */
const StoredContractManifest = z.object({
  format: z.literal("trellis.contract.v1"),
  id: NonEmpty,
  displayName: NonEmpty,
  description: NonEmpty,
  kind: z.enum(["service", "app", "device", "agent"]),
  docs: Docs.optional(),
  schemas: z.record(z.string(), z.union([OpaqueObject, z.boolean()])).optional(),
  exports: z.object({ schemas: z.array(NonEmpty).optional() }).optional(),
  uses: z.record(z.string(), OpaqueObject).optional(),
  rpc: z.record(z.string(), OpaqueObject).optional(),
  operations: z.record(z.string(), OpaqueObject).optional(),
  events: z.record(z.string(), OpaqueObject).optional(),
  errors: z.record(z.string(), OpaqueObject).optional(),
  state: z
    .record(
      z.string(),
      z.object({
        kind: z.enum(["value", "map"]),
        schema: SchemaRef,
        stateVersion: NonEmpty.optional(),
        acceptedVersions: z.record(z.string(), SchemaRef).optional(),
        docs: Docs.optional(),
      }),
    )
    .optional(),
  jobs: z
    .record(
      z.string(),
      z.object({
        payload: SchemaRef,
        result: SchemaRef.optional(),
        maxDeliver: PositiveInt.optional(),
        backoffMs: z.array(NonNegativeInt).optional(),
        ackWaitMs: PositiveInt.optional(),
        defaultDeadlineMs: PositiveInt.optional(),
        progress: z.boolean().optional(),
        logs: z.boolean().optional(),
        dlq: z.boolean().optional(),
        concurrency: PositiveInt.optional(),
        docs: Docs.optional(),
      }),
    )
    .optional(),
  // Closed, like the manifest's own `resources` section.
  resources: z
    .strictObject({
      kv: z
        .record(
          z.string(),
          z.object({
            purpose: NonEmpty,
            schema: SchemaRef,
            required: z.boolean().optional(),
            history: PositiveInt.optional(),
            ttlMs: NonNegativeInt.optional(),
            maxValueBytes: PositiveInt.optional(),
            docs: Docs.optional(),
          }),
        )
        .optional(),
      store: z
        .record(
          z.string(),
          z.object({
            purpose: NonEmpty,
            required: z.boolean().optional(),
            ttlMs: NonNegativeInt.optional(),
            maxObjectBytes: PositiveInt.optional(),
            maxTotalBytes: PositiveInt.optional(),
            docs: Docs.optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});

export const TrellisContractGetResponse = z.object({ contract: StoredContractManifest });

// ---------------------------------------------------------------------------------------------
// Trellis.Surface.Status

export const TrellisSurfaceStatusRequest = z.object({
  contractId: NonEmpty,
  kind: z.enum(["rpc", "operation", "event", "feed"]),
  surface: NonEmpty,
  /** What the caller wants to do with the surface; defaults to the kind's main action. */
  action: z.enum(["call", "publish", "subscribe", "observe"]).optional(),
});

export const TrellisSurfaceStatusResponse = z.object({
  status: z.union([
    z.object({
      state: z.literal("available"),
      liveImplementer: z.boolean(),
      runtime: z.enum(["live", "no_live_implementer", "disabled"]),
    }),
    z.object({ state: z.literal("unavailable"), reason: z.enum(["authority_unavailable"]) }),
    z.object({ state: z.literal("unauthorized"), missingCapabilities: z.array(z.string()) }),
    z.object({ state: z.literal("unknown_contract"), contractId: NonEmpty }),
    z.object({
      state: z.literal("unknown_surface"),
      contractId: NonEmpty,
      kind: NonEmpty,
      surface: NonEmpty,
    }),
  ]),
});

// ---------------------------------------------------------------------------------------------

/** The `trellis.core@v1` contract module. */
export const trellisCore = defineServiceContract(
  {
    schemas: {
      TrellisBindingsGetRequest,
      TrellisBindingsGetResponse,
      TrellisCatalogRequest,
      TrellisCatalogResponse,
      TrellisContractGetRequest,
      TrellisContractGetResponse,
      TrellisSurfaceStatusRequest,
      TrellisSurfaceStatusResponse,
    },
  },
  (ref) => ({
    id: "trellis.core@v1",
    displayName: "Trellis Core",
    description: "Runtime RPCs of Trellis that every connected participant can use.",
    docs: {
      summary: "Catalog, contract and binding lookups.",
      markdown:
        "Lets participants read the deployment's contract catalog and individual contract manifests, " +
        "lets services fetch the resources bound to their contract, and reports whether a surface " +
        "owned by some contract is currently usable.",
    },
    capabilities: {
      "catalog.read": {
        displayName: "Read the contract catalog",
        description: "See which Trellis contracts are installed.",
      },
      "contract.read": {
        displayName: "Read installed contracts",
        description: "Fetch installed contract manifests and their metadata.",
      },
    },
    rpc: {
      "Trellis.Catalog": {
        version: "v1",
        input: ref.schema("TrellisCatalogRequest"),
        output: ref.schema("TrellisCatalogResponse"),
        capabilities: { call: ["catalog.read"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "List the visible contracts.",
          markdown:
            "Returns the entries of the deployment's active contract catalog, plus any open catalog issues.",
        },
      },
      "Trellis.Contract.Get": {
        version: "v1",
        input: ref.schema("TrellisContractGetRequest"),
        output: ref.schema("TrellisContractGetResponse"),
        capabilities: { call: ["contract.read"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "Fetch one contract manifest.",
          markdown: "Looks up a contract by its digest and returns its normalized manifest.",
        },
      },
      "Trellis.Bindings.Get": {
        version: "v1",
        input: ref.schema("TrellisBindingsGetRequest"),
        output: ref.schema("TrellisBindingsGetResponse"),
        capabilities: { call: ["service"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError")],
        internal: true,
        docs: {
          summary: "Fetch a service's resource bindings.",
          markdown:
            "Returns the concrete resources (KV buckets, object stores, job queues, event consumers) " +
            "bound to the calling service's active contract.",
        },
      },
      "Trellis.Surface.Status": {
        version: "v1",
        input: ref.schema("TrellisSurfaceStatusRequest"),
        output: ref.schema("TrellisSurfaceStatusResponse"),
        capabilities: { call: ["catalog.read"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "Check whether a surface is usable.",
          markdown:
            "Tells the caller whether a contract-owned surface is available to it, taking capabilities, " +
            "deployment authority and live implementers into account.",
        },
      },
    },
  }),
);
