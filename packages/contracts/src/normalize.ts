/**
 * Manifest normalization (contracts spec §3): rebuilds a manifest from its known fields only.
 *
 * Decisions (see design/decisions.md): `rpc.*.internal` is kept, and empty sections (`rpc: {}`,
 * `capabilities: {}`, empty signal or accepted-version maps, …) are dropped. Both match the
 * committed digests of the Trellis-owned reference manifests.
 */
import type {
  CapabilityMetadata,
  ContractManifest,
  ContractUse,
  ContractUses,
  Docs,
  EventConsumerGroup,
  EventDescriptor,
  Feed,
  JobQueue,
  KvResource,
  Operation,
  Resources,
  RpcMethod,
  SchemaRef,
  StateStore,
  StoreResource,
} from "./manifest.js";

/** Copies `keys` of `source` that are not `undefined`, in order. */
function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) {
    if (source[key] !== undefined) out[key] = source[key];
  }
  return out;
}

/** Maps each value of a record, dropping the record when it ends up empty. */
function mapSection<V, R>(
  record: Record<string, V> | undefined,
  fn: (value: V) => R,
): Record<string, R> | undefined {
  if (!record) return undefined;
  const entries = Object.entries(record);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([key, value]) => [key, fn(value)]));
}

function ref(value: SchemaRef): SchemaRef {
  return { schema: value.schema };
}

function optionalRef(value: SchemaRef | undefined): SchemaRef | undefined {
  return value ? ref(value) : undefined;
}

/** Sorts by UTF-16 code units and removes duplicates. */
export function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** A use entry with only its selector lists, each sorted and de-duplicated. */
export function sortUseSelectors(use: ContractUse): ContractUse {
  const out: ContractUse = { contract: use.contract };
  if (use.rpc?.call) out.rpc = { call: sortedUnique(use.rpc.call) };
  if (use.operations?.call) out.operations = { call: sortedUnique(use.operations.call) };
  if (use.events?.publish || use.events?.subscribe) {
    out.events = {};
    if (use.events.publish) out.events.publish = sortedUnique(use.events.publish);
    if (use.events.subscribe) out.events.subscribe = sortedUnique(use.events.subscribe);
  }
  if (use.feeds?.subscribe) out.feeds = { subscribe: sortedUnique(use.feeds.subscribe) };
  return out;
}

function normalizeDocs(docs: Docs | undefined): Docs | undefined {
  if (!docs) return undefined;
  return docs.summary !== undefined
    ? { summary: docs.summary, markdown: docs.markdown }
    : { markdown: docs.markdown };
}

function withDocs<T extends object>(value: T, docs: Docs | undefined): T & { docs?: Docs } {
  const normalized = normalizeDocs(docs);
  return normalized ? { ...value, docs: normalized } : value;
}

function normalizeCapability(meta: CapabilityMetadata): CapabilityMetadata {
  const out: CapabilityMetadata = { displayName: meta.displayName, description: meta.description };
  if (meta.consequence) out.consequence = meta.consequence;
  return out;
}

function normalizeUse(use: ContractUse): ContractUse {
  const out: ContractUse = { contract: use.contract };
  if (use.rpc) out.rpc = pick(use.rpc, ["call"]);
  if (use.operations) out.operations = pick(use.operations, ["call"]);
  if (use.events) out.events = pick(use.events, ["publish", "subscribe"]);
  if (use.feeds) out.feeds = pick(use.feeds, ["subscribe"]);
  return out;
}

function normalizeUses(uses: ContractUses): ContractUses | undefined {
  const out: ContractUses = {};
  const required = mapSection(uses.required, normalizeUse);
  const optional = mapSection(uses.optional, normalizeUse);
  if (required) out.required = required;
  if (optional) out.optional = optional;
  return required || optional ? out : undefined;
}

function normalizeState(store: StateStore): StateStore {
  const out: StateStore = { kind: store.kind, schema: ref(store.schema) };
  if (store.stateVersion) out.stateVersion = store.stateVersion;
  const accepted = mapSection(store.acceptedVersions, ref);
  if (accepted) out.acceptedVersions = accepted;
  return withDocs(out, store.docs);
}

function normalizeRpc(method: RpcMethod): RpcMethod {
  const out: RpcMethod = {
    version: method.version,
    subject: method.subject,
    input: ref(method.input),
    output: ref(method.output),
  };
  if (method.transfer) out.transfer = { direction: method.transfer.direction };
  if (method.capabilities?.call) out.capabilities = { call: method.capabilities.call };
  if (Array.isArray(method.errors)) out.errors = method.errors.map((error) => ({ type: error.type }));
  if (method.internal !== undefined) out.internal = method.internal;
  return withDocs(out, method.docs);
}

function normalizeOperation(operation: Operation): Operation {
  const out: Operation = {
    version: operation.version,
    subject: operation.subject,
    input: ref(operation.input),
    output: ref(operation.output),
  };
  if (operation.progress) out.progress = ref(operation.progress);
  if (operation.transfer) {
    const transfer = operation.transfer;
    out.transfer = { direction: transfer.direction, store: transfer.store, key: transfer.key };
    if (transfer.contentType) out.transfer.contentType = transfer.contentType;
    if (transfer.metadata) out.transfer.metadata = transfer.metadata;
    if (transfer.expiresInMs !== undefined) out.transfer.expiresInMs = transfer.expiresInMs;
    if (transfer.maxBytes !== undefined) out.transfer.maxBytes = transfer.maxBytes;
  }
  if (operation.capabilities) {
    out.capabilities = pick(operation.capabilities, ["call", "observe", "cancel", "control"]);
  }
  const signals = mapSection(operation.signals, (signal) =>
    withDocs({ input: ref(signal.input) }, signal.docs),
  );
  if (signals) out.signals = signals;
  if (operation.cancel !== undefined) out.cancel = operation.cancel;
  return withDocs(out, operation.docs);
}

function normalizeEvent(event: EventDescriptor): EventDescriptor {
  const out: EventDescriptor = { version: event.version, subject: event.subject, event: ref(event.event) };
  if (event.params) out.params = event.params;
  if (event.capabilities) out.capabilities = pick(event.capabilities, ["publish", "subscribe"]);
  return withDocs(out, event.docs);
}

function normalizeFeed(feed: Feed): Feed {
  const out: Feed = {
    version: feed.version,
    subject: feed.subject,
    input: ref(feed.input),
    event: ref(feed.event),
  };
  if (feed.capabilities?.subscribe) out.capabilities = { subscribe: feed.capabilities.subscribe };
  return withDocs(out, feed.docs);
}

function normalizeJob(job: JobQueue): JobQueue {
  const out: JobQueue = { payload: ref(job.payload) };
  const result = optionalRef(job.result);
  if (result) out.result = result;
  Object.assign(
    out,
    pick(job, [
      "maxDeliver",
      "backoffMs",
      "ackWaitMs",
      "defaultDeadlineMs",
      "progress",
      "logs",
      "dlq",
      "concurrency",
    ]),
  );
  return withDocs(out, job.docs);
}

function normalizeEventConsumerGroup(group: EventConsumerGroup): EventConsumerGroup {
  const out: EventConsumerGroup = {};
  if (group.uses) {
    out.uses = Object.fromEntries(
      Object.entries(group.uses).map(([alias, events]) => [alias, sortedUnique(events)]),
    );
  }
  if (group.self) out.self = sortedUnique(group.self);
  out.replay = group.replay ?? "new";
  out.ordering = group.ordering ?? "strict";
  out.concurrency = group.concurrency ?? 1;
  Object.assign(out, pick(group, ["ackWaitMs", "maxDeliver", "backoffMs"]));
  return withDocs(out, group.docs);
}

function normalizeKv(kv: KvResource): KvResource {
  const out: KvResource = { purpose: kv.purpose, schema: ref(kv.schema) };
  Object.assign(out, pick(kv, ["required", "history", "ttlMs", "maxValueBytes"]));
  return withDocs(out, kv.docs);
}

function normalizeStore(store: StoreResource): StoreResource {
  const out: StoreResource = { purpose: store.purpose };
  Object.assign(out, pick(store, ["required", "ttlMs", "maxObjectBytes", "maxTotalBytes"]));
  return withDocs(out, store.docs);
}

function normalizeResources(resources: Resources): Resources | undefined {
  const out: Resources = {};
  const kv = mapSection(resources.kv, normalizeKv);
  const store = mapSection(resources.store, normalizeStore);
  if (kv) out.kv = kv;
  if (store) out.store = store;
  return kv || store ? out : undefined;
}

/**
 * Rebuilds `manifest` from known fields only: unknown fields are dropped at every level, event
 * consumer defaults are written and their lists sorted, and empty sections are removed.
 * The input must already have the manifest's shape (see `parseContractManifest`).
 */
export function normalizeContractManifest(manifest: ContractManifest): ContractManifest {
  const out: ContractManifest = {
    format: manifest.format,
    id: manifest.id,
    displayName: manifest.displayName,
    description: manifest.description,
    kind: manifest.kind,
  };
  const docs = normalizeDocs(manifest.docs);
  if (docs) out.docs = docs;
  const capabilities = mapSection(manifest.capabilities, normalizeCapability);
  if (capabilities) out.capabilities = capabilities;
  const schemas = mapSection(manifest.schemas, (schema) => schema);
  if (schemas) out.schemas = schemas;
  if (manifest.exports?.schemas && manifest.exports.schemas.length > 0) {
    out.exports = { schemas: manifest.exports.schemas };
  }
  const uses = manifest.uses && normalizeUses(manifest.uses);
  if (uses) out.uses = uses;
  const sections = {
    state: mapSection(manifest.state, normalizeState),
    rpc: mapSection(manifest.rpc, normalizeRpc),
    operations: mapSection(manifest.operations, normalizeOperation),
    events: mapSection(manifest.events, normalizeEvent),
    feeds: mapSection(manifest.feeds, normalizeFeed),
    jobs: mapSection(manifest.jobs, normalizeJob),
    eventConsumers: mapSection(manifest.eventConsumers, normalizeEventConsumerGroup),
    resources: manifest.resources && normalizeResources(manifest.resources),
    errors: mapSection(manifest.errors, (decl) =>
      decl.schema ? { type: decl.type, schema: ref(decl.schema) } : { type: decl.type },
    ),
  };
  for (const [key, value] of Object.entries(sections)) {
    if (value !== undefined) Object.assign(out, { [key]: value });
  }
  return out;
}
