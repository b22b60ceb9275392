/**
 * The `trellis.contract.v1` manifest model (contracts spec §2) as zod schemas and TypeScript types.
 *
 * These schemas check the shape of each field. Cross-field rules (schema references, subject
 * templates, event consumer groups, forbidden sections) live in `validate.ts`.
 */
import { z } from "zod";

/** The manifest format identifier. */
export const CONTRACT_FORMAT_V1 = "trellis.contract.v1";

/** The catalog format identifier. */
export const CATALOG_FORMAT_V1 = "trellis.catalog.v1";

const nonEmpty = z.string().min(1, "must be a non-empty string");
const versionTag = z.string().regex(/^v[0-9]+$/, "must match ^v[0-9]+$");
const positiveInt = z.number().int().min(1);
const nonNegativeInt = z.number().int().min(0);
const stringList = z.array(z.string());

/** Documentation attached to a contract or surface; never part of the digest. */
export const DocsSchema = z.object({ summary: z.string().optional(), markdown: z.string() });

/** A reference to a named schema in the manifest's `schemas` map. */
export const SchemaRefSchema = z.object({ schema: nonEmpty });

/** Display metadata of a capability, keyed by its global name. */
export const CapabilityMetadataSchema = z.object({
  displayName: nonEmpty,
  description: nonEmpty,
  consequence: nonEmpty.optional(),
});

/** An embedded JSON Schema: an object or a boolean. */
export const EmbeddedJsonSchemaSchema = z.union([z.record(z.string(), z.unknown()), z.boolean()], {
  error: "embedded schema must be a JSON object or boolean",
});

/** One dependency on another contract, with the surfaces it selects. */
export const ContractUseSchema = z.object({
  contract: nonEmpty,
  rpc: z.object({ call: stringList.optional() }).optional(),
  operations: z.object({ call: stringList.optional() }).optional(),
  events: z.object({ publish: stringList.optional(), subscribe: stringList.optional() }).optional(),
  feeds: z.object({ subscribe: stringList.optional() }).optional(),
});

/** Grouped dependencies: `required` fail closed, `optional` grant only once resolved. */
export const ContractUsesSchema = z.strictObject(
  {
    required: z.record(nonEmpty, ContractUseSchema).optional(),
    optional: z.record(nonEmpty, ContractUseSchema).optional(),
  },
  { error: "uses must be grouped under 'required' or 'optional'" },
);

/** A request/reply method. */
export const RpcMethodSchema = z.object({
  version: versionTag,
  subject: nonEmpty,
  input: SchemaRefSchema,
  output: SchemaRefSchema,
  capabilities: z.object({ call: stringList.optional() }).optional(),
  errors: z.array(z.object({ type: nonEmpty })).optional(),
  transfer: z.object({ direction: z.literal("receive") }).optional(),
  internal: z.boolean().optional(),
  docs: DocsSchema.optional(),
});

/** Upload side of an operation: where the transferred bytes land. */
export const OperationTransferSchema = z.object({
  direction: z.literal("send"),
  store: nonEmpty,
  key: z.string().regex(/^\//, "must be a JSON Pointer"),
  contentType: z.string().regex(/^\//, "must be a JSON Pointer").optional(),
  metadata: z.string().regex(/^\//, "must be a JSON Pointer").optional(),
  expiresInMs: positiveInt.optional(),
  maxBytes: positiveInt.optional(),
});

/** A durable, observable operation. */
export const OperationSchema = z.object({
  version: versionTag,
  subject: nonEmpty,
  input: SchemaRefSchema,
  output: SchemaRefSchema,
  progress: SchemaRefSchema.optional(),
  transfer: OperationTransferSchema.optional(),
  capabilities: z
    .looseObject({
      call: stringList.optional(),
      observe: stringList.optional(),
      cancel: stringList.optional(),
      control: stringList.optional(),
    })
    .optional(),
  signals: z.record(nonEmpty, z.object({ input: SchemaRefSchema, docs: DocsSchema.optional() })).optional(),
  cancel: z.boolean().optional(),
  docs: DocsSchema.optional(),
});

/** A published event. */
export const EventSchema = z.object({
  version: versionTag,
  subject: nonEmpty,
  params: z.array(z.string().regex(/^\//, "must be a JSON Pointer")).optional(),
  event: SchemaRefSchema,
  capabilities: z.object({ publish: stringList.optional(), subscribe: stringList.optional() }).optional(),
  docs: DocsSchema.optional(),
});

/** A live request/stream feed. */
export const FeedSchema = z.object({
  version: versionTag,
  subject: nonEmpty,
  input: SchemaRefSchema,
  event: SchemaRefSchema,
  capabilities: z.object({ subscribe: stringList.optional() }).optional(),
  docs: DocsSchema.optional(),
});

/** A declared error type and its payload schema. */
export const ErrorDeclarationSchema = z.object({ type: nonEmpty, schema: SchemaRefSchema.optional() });

/** A JetStream job queue. Defaults are applied in bindings, never written into the manifest. */
export const JobQueueSchema = z.object({
  payload: SchemaRefSchema,
  result: SchemaRefSchema.optional(),
  maxDeliver: positiveInt.optional(),
  backoffMs: z.array(nonNegativeInt).optional(),
  ackWaitMs: positiveInt.optional(),
  defaultDeadlineMs: positiveInt.optional(),
  progress: z.boolean().optional(),
  logs: z.boolean().optional(),
  dlq: z.boolean().optional(),
  concurrency: positiveInt.optional(),
  docs: DocsSchema.optional(),
});

/** A durable group of event handlers. */
export const EventConsumerGroupSchema = z.object({
  uses: z.record(nonEmpty, z.array(nonEmpty).min(1, "must list at least one event")).optional(),
  self: z.array(nonEmpty).optional(),
  replay: z.enum(["new", "all"]).optional(),
  ordering: z.literal("strict").optional(),
  concurrency: positiveInt.optional(),
  ackWaitMs: positiveInt.optional(),
  maxDeliver: positiveInt.optional(),
  backoffMs: z.array(nonNegativeInt).optional(),
  docs: DocsSchema.optional(),
});

/** A per-user state store served by `trellis.state@v1`. */
export const StateStoreSchema = z.object({
  kind: z.enum(["value", "map"]),
  schema: SchemaRefSchema,
  stateVersion: nonEmpty.optional(),
  acceptedVersions: z.record(nonEmpty, SchemaRefSchema).optional(),
  docs: DocsSchema.optional(),
});

/** A KV bucket resource. */
export const KvResourceSchema = z.object({
  purpose: nonEmpty,
  schema: SchemaRefSchema,
  required: z.boolean().optional(),
  history: positiveInt.optional(),
  ttlMs: nonNegativeInt.optional(),
  maxValueBytes: positiveInt.optional(),
  docs: DocsSchema.optional(),
});

/** An object store resource. */
export const StoreResourceSchema = z.object({
  purpose: nonEmpty,
  required: z.boolean().optional(),
  ttlMs: nonNegativeInt.optional(),
  maxObjectBytes: positiveInt.optional(),
  maxTotalBytes: positiveInt.optional(),
  docs: DocsSchema.optional(),
});

/** Infrastructure resources a deployment needs. */
export const ResourcesSchema = z.strictObject({
  kv: z.record(nonEmpty, KvResourceSchema).optional(),
  store: z.record(nonEmpty, StoreResourceSchema).optional(),
});

/** The participant kinds a contract can describe. */
export const ContractKindSchema = z.enum(["service", "app", "agent", "device"]);

/** A whole `trellis.contract.v1` manifest. Unknown fields are accepted and stripped. */
export const ContractManifestSchema = z.object({
  format: z.literal(CONTRACT_FORMAT_V1),
  id: nonEmpty,
  displayName: nonEmpty,
  description: nonEmpty,
  docs: DocsSchema.optional(),
  kind: ContractKindSchema,
  capabilities: z.record(nonEmpty, CapabilityMetadataSchema).optional(),
  schemas: z.record(nonEmpty, EmbeddedJsonSchemaSchema).optional(),
  exports: z.object({ schemas: z.array(z.string()).optional() }).optional(),
  uses: ContractUsesSchema.optional(),
  state: z.record(nonEmpty, StateStoreSchema).optional(),
  rpc: z.record(nonEmpty, RpcMethodSchema).optional(),
  operations: z.record(nonEmpty, OperationSchema).optional(),
  events: z.record(nonEmpty, EventSchema).optional(),
  feeds: z.record(nonEmpty, FeedSchema).optional(),
  errors: z.record(nonEmpty, ErrorDeclarationSchema).optional(),
  jobs: z.record(nonEmpty, JobQueueSchema).optional(),
  eventConsumers: z.record(nonEmpty, EventConsumerGroupSchema).optional(),
  resources: ResourcesSchema.optional(),
});

/** An embedded JSON Schema document. */
export type JsonSchema = Record<string, unknown> | boolean;
/** Documentation block. */
export type Docs = z.infer<typeof DocsSchema>;
/** `{ schema: name }` reference. */
export type SchemaRef = z.infer<typeof SchemaRefSchema>;
/** Capability display metadata. */
export type CapabilityMetadata = z.infer<typeof CapabilityMetadataSchema>;
/** One `uses` entry. */
export type ContractUse = z.infer<typeof ContractUseSchema>;
/** The grouped `uses` section. */
export type ContractUses = z.infer<typeof ContractUsesSchema>;
/** RPC method descriptor. */
export type RpcMethod = z.infer<typeof RpcMethodSchema>;
/** Operation transfer descriptor. */
export type OperationTransfer = z.infer<typeof OperationTransferSchema>;
/** Operation descriptor. */
export type Operation = z.infer<typeof OperationSchema>;
/** Event descriptor. */
export type EventDescriptor = z.infer<typeof EventSchema>;
/** Feed descriptor. */
export type Feed = z.infer<typeof FeedSchema>;
/** Error declaration. */
export type ErrorDeclaration = z.infer<typeof ErrorDeclarationSchema>;
/** Job queue descriptor. */
export type JobQueue = z.infer<typeof JobQueueSchema>;
/** Event consumer group descriptor. */
export type EventConsumerGroup = z.infer<typeof EventConsumerGroupSchema>;
/** State store descriptor. */
export type StateStore = z.infer<typeof StateStoreSchema>;
/** KV resource descriptor. */
export type KvResource = z.infer<typeof KvResourceSchema>;
/** Object store resource descriptor. */
export type StoreResource = z.infer<typeof StoreResourceSchema>;
/** The resources section. */
export type Resources = z.infer<typeof ResourcesSchema>;
/** Participant kind. */
export type ContractKind = z.infer<typeof ContractKindSchema>;
/** A validated `trellis.contract.v1` manifest. */
export type ContractManifest = z.infer<typeof ContractManifestSchema>;
