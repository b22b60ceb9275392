/**
 * The contract digest (contracts spec §5): SHA-256 over the canonical JSON of the digest projection.
 *
 * The projection keeps only what changes behaviour: docs, display names, exports, unreferenced
 * schemas and undeclared errors are left out, and set-like lists are sorted and de-duplicated.
 */
import { digestJson, type JsonValue } from "./canonical.js";
import type { ContractManifest, ContractUses, JsonSchema } from "./manifest.js";
import { normalizeContractManifest, sortedUnique, sortUseSelectors } from "./normalize.js";

/** Removes the `docs` field of a descriptor. */
function withoutDocs<T extends { docs?: unknown }>(value: T): Omit<T, "docs"> {
  const { docs: _docs, ...rest } = value;
  return rest;
}

function mapValues<V, R>(record: Record<string, V>, fn: (value: V) => R): Record<string, R> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}

/** Names of the schemas the digest covers: those referenced by a behavioural surface. */
export function reachableSchemaNames(manifest: ContractManifest): Set<string> {
  const names = new Set<string>();
  const add = (ref: { schema: string } | undefined) => {
    if (ref) names.add(ref.schema);
  };
  for (const store of Object.values(manifest.state ?? {})) {
    add(store.schema);
    for (const accepted of Object.values(store.acceptedVersions ?? {})) add(accepted);
  }
  const errorDecls = Object.values(manifest.errors ?? {});
  for (const method of Object.values(manifest.rpc ?? {})) {
    add(method.input);
    add(method.output);
    for (const { type } of method.errors ?? []) add(errorDecls.find((decl) => decl.type === type)?.schema);
  }
  for (const operation of Object.values(manifest.operations ?? {})) {
    add(operation.input);
    add(operation.progress);
    add(operation.output);
    for (const signal of Object.values(operation.signals ?? {})) add(signal.input);
  }
  for (const event of Object.values(manifest.events ?? {})) add(event.event);
  for (const feed of Object.values(manifest.feeds ?? {})) {
    add(feed.input);
    add(feed.event);
  }
  for (const job of Object.values(manifest.jobs ?? {})) {
    add(job.payload);
    add(job.result);
  }
  for (const kv of Object.values(manifest.resources?.kv ?? {})) add(kv.schema);
  return names;
}

function projectUses(uses: ContractUses): ContractUses | undefined {
  const required = uses.required && mapValues(uses.required, sortUseSelectors);
  let optional = uses.optional && mapValues(uses.optional, sortUseSelectors);
  if (required && optional) {
    // A required alias shadows an optional one of the same name.
    optional = Object.fromEntries(Object.entries(optional).filter(([alias]) => !(alias in required)));
    if (Object.keys(optional).length === 0) optional = undefined;
  }
  if (!required && !optional) return undefined;
  const out: ContractUses = {};
  if (required) out.required = required;
  if (optional) out.optional = optional;
  return out;
}

function sortedLists<K extends string>(
  source: Partial<Record<K, string[]>>,
  keys: readonly K[],
): Partial<Record<K, string[]>> | undefined {
  const out: Partial<Record<K, string[]>> = {};
  let any = false;
  for (const key of keys) {
    const list = source[key];
    if (list) {
      out[key] = sortedUnique(list);
      any = true;
    }
  }
  return any ? out : undefined;
}

/**
 * The digest projection of a manifest (contracts spec §5.1). The manifest is normalized first;
 * the result is what `digestContractManifest` hashes.
 */
export function projectContractDigestManifest(manifest: ContractManifest): Record<string, JsonValue> {
  const n = normalizeContractManifest(manifest);
  const projection: Record<string, unknown> = { format: n.format, id: n.id, kind: n.kind };
  if (n.capabilities) projection.capabilities = n.capabilities;

  const reachable = reachableSchemaNames(n);
  if (n.schemas && reachable.size > 0) {
    const schemas: Record<string, JsonSchema> = {};
    for (const [name, schema] of Object.entries(n.schemas)) if (reachable.has(name)) schemas[name] = schema;
    if (Object.keys(schemas).length > 0) projection.schemas = schemas;
  }
  if (n.state) projection.state = mapValues(n.state, withoutDocs);
  if (n.uses) {
    const uses = projectUses(n.uses);
    if (uses) projection.uses = uses;
  }
  if (n.rpc) {
    projection.rpc = mapValues(n.rpc, (method) => {
      const out: Record<string, unknown> = withoutDocs(method);
      if (method.capabilities?.call) out.capabilities = { call: sortedUnique(method.capabilities.call) };
      if (method.errors)
        out.errors = sortedUnique(method.errors.map((e) => e.type)).map((type) => ({ type }));
      return out;
    });
  }
  if (n.operations) {
    projection.operations = mapValues(n.operations, (operation) => {
      const out: Record<string, unknown> = withoutDocs(operation);
      if (operation.signals) out.signals = mapValues(operation.signals, withoutDocs);
      const caps = operation.capabilities;
      const sorted = caps && sortedLists(caps, ["call", "observe", "cancel", "control"] as const);
      if (sorted) out.capabilities = sorted;
      return out;
    });
  }
  if (n.events) {
    projection.events = mapValues(n.events, (event) => {
      const out: Record<string, unknown> = withoutDocs(event);
      const sorted = event.capabilities && sortedLists(event.capabilities, ["publish", "subscribe"] as const);
      if (sorted) out.capabilities = sorted;
      return out;
    });
  }
  if (n.feeds) {
    projection.feeds = mapValues(n.feeds, (feed) => {
      const out: Record<string, unknown> = withoutDocs(feed);
      if (feed.capabilities?.subscribe)
        out.capabilities = { subscribe: sortedUnique(feed.capabilities.subscribe) };
      return out;
    });
  }
  if (n.errors) {
    const used = new Set(
      Object.values(n.rpc ?? {}).flatMap((method) => (method.errors ?? []).map((e) => e.type)),
    );
    const errors = Object.fromEntries(Object.entries(n.errors).filter(([, decl]) => used.has(decl.type)));
    if (Object.keys(errors).length > 0) projection.errors = errors;
  }
  if (n.jobs) projection.jobs = mapValues(n.jobs, withoutDocs);
  if (n.eventConsumers) projection.eventConsumers = mapValues(n.eventConsumers, withoutDocs);
  if (n.resources) {
    const resources: Record<string, unknown> = {};
    if (n.resources.kv) resources.kv = mapValues(n.resources.kv, withoutDocs);
    if (n.resources.store) resources.store = mapValues(n.resources.store, withoutDocs);
    if (Object.keys(resources).length > 0) projection.resources = resources;
  }
  return projection as Record<string, JsonValue>;
}

/** The contract digest: base64url(sha256(canonical(projection))) without padding. */
export function digestContractManifest(manifest: ContractManifest): string {
  return digestJson(projectContractDigestManifest(manifest));
}
