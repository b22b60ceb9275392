/**
 * Contract proposals and desired-state arithmetic (auth spec §1.4; design/authority.md). A proposal is
 * what a presented manifest asks of its deployment: the contracts and surfaces it uses, the
 * capabilities calling them takes, the resources it declares, and the surfaces it provides. Pure: no
 * store, no NATS.
 */
import {
  type ContractManifest,
  type ContractResolver,
  canonicalizeJson,
  operationObserveCapabilities,
} from "@trellis/contracts";
import type {
  AuthorityNeeds,
  AuthorityProposal,
  CapabilityNeed,
  ContractNeed,
  DesiredChange,
  DesiredChangeSide,
  DesiredState,
  ProvidedSurface,
  ResourceNeed,
  SurfaceNeed,
} from "../store/authority-repository.js";
import type { JsonObject } from "../store/codec.js";

/** Everything a deployment may hold, as one flat list per family (no required flags, no grouping). */
interface NeedSets {
  contracts: Map<string, ContractNeed>;
  surfaces: Map<string, SurfaceNeed>;
  capabilities: Map<string, CapabilityNeed>;
  resources: Map<string, ResourceNeed>;
  provided: Map<string, ProvidedSurface>;
}

/** The surfaces a manifest provides, by kind (`rpc`, `operation`, `event`, `feed`). */
export function surfaceSections(manifest: ContractManifest) {
  return [
    ["rpc", manifest.rpc],
    ["operation", manifest.operations],
    ["event", manifest.events],
    ["feed", manifest.feeds],
  ] as const;
}

/** Identity of a used surface (`contractId:kind:name:action`). */
export function surfaceNeedKey(need: Pick<SurfaceNeed, "contractId" | "kind" | "name" | "action">): string {
  return `${need.contractId}:${need.kind}:${need.name}:${need.action}`;
}

/** Identity of a provided surface (`contractId:kind:name`, the authority surface key). */
export function providedSurfaceKey(surface: ProvidedSurface): string {
  return `${surface.contractId}:${surface.kind}:${surface.name}`;
}

/** Identity of a resource: its kind, alias and exact definition (a changed definition is a new need). */
export function resourceKey(resource: ResourceNeed): string {
  return `${resource.kind}:${resource.alias}:${canonicalizeJson(resource.definition)}`;
}

function toJsonObject(value: object): JsonObject {
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

/** `a` with the needs of `b` added; a need required on either side stays required. */
function mergeRequired<T extends { required: boolean }>(map: Map<string, T>, key: string, value: T): void {
  const existing = map.get(key);
  map.set(
    key,
    existing === undefined ? value : { ...existing, required: existing.required || value.required },
  );
}

/**
 * The proposal of a manifest for a deployment:
 * - `requestedNeeds.contracts`: every `uses` target (required wins over optional for the same id);
 * - `requestedNeeds.surfaces`: each used surface with its action (`rpc` call, `operation` call,
 *   `event` publish/subscribe, `feed` subscribe);
 * - `requestedNeeds.capabilities`: the capabilities those uses require of the caller, read from the
 *   target contracts the resolver knows (an unresolved target contributes none until it resolves);
 * - `requestedNeeds.resources`: `resources.kv|store`, one `jobs` entry per queue and one
 *   `event-consumer` entry per group, each with its manifest definition;
 * - `providedSurfaces`: the manifest's own rpc, operations, events and feeds.
 */
export function deriveProposal(
  deploymentId: string,
  contractDigest: string,
  manifest: ContractManifest,
  resolveContract: ContractResolver,
): AuthorityProposal {
  const contracts = new Map<string, ContractNeed>();
  const surfaces = new Map<string, SurfaceNeed>();
  const capabilities = new Map<string, CapabilityNeed>();
  const groups = [
    { entries: manifest.uses?.required ?? {}, required: true },
    { entries: manifest.uses?.optional ?? {}, required: false },
  ];
  for (const { entries, required } of groups) {
    for (const use of Object.values(entries)) {
      const contractId = use.contract;
      mergeRequired(contracts, contractId, { contractId, required });
      const target = resolveContract(contractId);
      const surface = (
        kind: SurfaceNeed["kind"],
        name: string,
        action: SurfaceNeed["action"],
        caps: readonly string[],
      ) => {
        const need: SurfaceNeed = { contractId, kind, name, action, required };
        mergeRequired(surfaces, surfaceNeedKey(need), need);
        for (const capability of caps) mergeRequired(capabilities, capability, { capability, required });
      };
      for (const name of use.rpc?.call ?? []) {
        surface("rpc", name, "call", target?.rpc?.[name]?.capabilities?.call ?? []);
      }
      for (const name of use.operations?.call ?? []) {
        const operation = target?.operations?.[name];
        surface("operation", name, "call", [
          ...(operation?.capabilities?.call ?? []),
          ...(operation === undefined ? [] : operationObserveCapabilities(operation)),
        ]);
      }
      for (const name of use.events?.publish ?? []) {
        surface("event", name, "publish", target?.events?.[name]?.capabilities?.publish ?? []);
      }
      for (const name of use.events?.subscribe ?? []) {
        surface("event", name, "subscribe", target?.events?.[name]?.capabilities?.subscribe ?? []);
      }
      for (const name of use.feeds?.subscribe ?? []) {
        surface("feed", name, "subscribe", target?.feeds?.[name]?.capabilities?.subscribe ?? []);
      }
    }
  }

  const resources: ResourceNeed[] = [];
  for (const [alias, kv] of Object.entries(manifest.resources?.kv ?? {})) {
    resources.push({ kind: "kv", alias, required: kv.required ?? true, definition: toJsonObject(kv) });
  }
  for (const [alias, store] of Object.entries(manifest.resources?.store ?? {})) {
    resources.push({
      kind: "store",
      alias,
      required: store.required ?? true,
      definition: toJsonObject(store),
    });
  }
  for (const [queue, job] of Object.entries(manifest.jobs ?? {})) {
    resources.push({ kind: "jobs", alias: queue, required: true, definition: toJsonObject(job) });
  }
  for (const [group, consumer] of Object.entries(manifest.eventConsumers ?? {})) {
    resources.push({
      kind: "event-consumer",
      alias: group,
      required: true,
      definition: toJsonObject(consumer),
    });
  }

  const providedSurfaces: ProvidedSurface[] = [];
  for (const [kind, section] of surfaceSections(manifest)) {
    for (const name of Object.keys(section ?? {}).sort())
      providedSurfaces.push({ contractId: manifest.id, kind, name });
  }

  return {
    deploymentId,
    contractId: manifest.id,
    contractDigest,
    requestedNeeds: sortNeeds({
      contracts: [...contracts.values()],
      surfaces: [...surfaces.values()],
      capabilities: [...capabilities.values()],
      resources,
    }),
    providedSurfaces,
  };
}

function byKey<T>(key: (value: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

function sortNeeds(needs: AuthorityNeeds): AuthorityNeeds {
  return {
    contracts: [...needs.contracts].sort(byKey((n) => n.contractId)),
    surfaces: [...needs.surfaces].sort(byKey(surfaceNeedKey)),
    capabilities: [...needs.capabilities].sort(byKey((n) => n.capability)),
    resources: [...needs.resources].sort(byKey(resourceKey)),
  };
}

function needSets(needs: AuthorityNeeds, provided: readonly ProvidedSurface[]): NeedSets {
  const sets: NeedSets = {
    contracts: new Map(),
    surfaces: new Map(),
    capabilities: new Map(),
    resources: new Map(),
    provided: new Map(),
  };
  for (const n of needs.contracts) mergeRequired(sets.contracts, n.contractId, n);
  for (const n of needs.surfaces) mergeRequired(sets.surfaces, surfaceNeedKey(n), n);
  for (const n of needs.capabilities) mergeRequired(sets.capabilities, n.capability, n);
  for (const n of needs.resources) mergeRequired(sets.resources, resourceKey(n), n);
  for (const s of provided) sets.provided.set(providedSurfaceKey(s), s);
  return sets;
}

function emptySide(): DesiredChangeSide {
  return {
    needs: { contracts: [], surfaces: [], capabilities: [], resources: [] },
    surfaces: [],
    resources: [],
    capabilities: [],
  };
}

/** What `from` lacks of `to`, as one side of a desired change. */
function missingFrom(from: NeedSets, to: NeedSets): DesiredChangeSide {
  const side = emptySide();
  for (const [key, n] of to.contracts) if (!from.contracts.has(key)) side.needs.contracts.push(n);
  for (const [key, n] of to.surfaces) if (!from.surfaces.has(key)) side.needs.surfaces.push(n);
  for (const [key, n] of to.capabilities) {
    if (!from.capabilities.has(key)) {
      side.needs.capabilities.push(n);
      side.capabilities.push(n.capability);
    }
  }
  for (const [key, n] of to.resources) {
    if (!from.resources.has(key)) {
      side.needs.resources.push(n);
      side.resources.push(n);
    }
  }
  for (const [key, s] of to.provided) if (!from.provided.has(key)) side.surfaces.push(s);
  return side;
}

/** `true` when a change side adds or removes nothing. */
export function isEmptySide(side: DesiredChangeSide): boolean {
  return (
    side.needs.contracts.length === 0 &&
    side.needs.surfaces.length === 0 &&
    side.needs.capabilities.length === 0 &&
    side.needs.resources.length === 0 &&
    side.surfaces.length === 0
  );
}

/**
 * Whether the desired state already allows everything the proposal asks: every requested need is a
 * desired need (the required flag is ignored) and every provided surface is a desired surface.
 */
export function proposalFits(desired: DesiredState, proposal: AuthorityProposal): boolean {
  return isEmptySide(missingFrom(desiredSets(desired), proposalSets(proposal)));
}

function desiredSets(desired: DesiredState): NeedSets {
  return needSets(desired.needs, desired.surfaces);
}

function proposalSets(proposal: AuthorityProposal): NeedSets {
  return needSets(proposal.requestedNeeds, proposal.providedSurfaces);
}

/** The desired state that allows exactly what the proposals ask (their union). */
export function desiredStateOf(proposals: readonly AuthorityProposal[]): DesiredState {
  const sets = needSets({ contracts: [], surfaces: [], capabilities: [], resources: [] }, []);
  for (const proposal of proposals) {
    const more = proposalSets(proposal);
    for (const [key, n] of more.contracts) mergeRequired(sets.contracts, key, n);
    for (const [key, n] of more.surfaces) mergeRequired(sets.surfaces, key, n);
    for (const [key, n] of more.capabilities) mergeRequired(sets.capabilities, key, n);
    for (const [key, n] of more.resources) mergeRequired(sets.resources, key, n);
    for (const [key, s] of more.provided) sets.provided.set(key, s);
  }
  const needs = sortNeeds({
    contracts: [...sets.contracts.values()],
    surfaces: [...sets.surfaces.values()],
    capabilities: [...sets.capabilities.values()],
    resources: [...sets.resources.values()],
  });
  return {
    needs,
    capabilities: needs.capabilities.map((n) => n.capability),
    resources: needs.resources,
    surfaces: [...sets.provided.values()].sort(byKey(providedSurfaceKey)),
  };
}

/** `desired` with everything `proposal` asks added (an update: nothing is removed). */
export function unionDesiredState(desired: DesiredState, proposal: AuthorityProposal): DesiredState {
  const merged = desiredStateOf([
    {
      deploymentId: proposal.deploymentId,
      contractId: proposal.contractId,
      contractDigest: proposal.contractDigest,
      requestedNeeds: desired.needs,
      providedSurfaces: desired.surfaces,
    },
    proposal,
  ]);
  // Capabilities granted outside the needs (none today, but the column allows them) are kept.
  const capabilities = [...new Set([...merged.capabilities, ...desired.capabilities])].sort();
  return { ...merged, capabilities };
}

/** What moving from `current` to `next` adds and removes. */
export function desiredChange(current: DesiredState, next: DesiredState): DesiredChange {
  const from = desiredSets(current);
  const to = desiredSets(next);
  return { added: missingFrom(from, to), removed: missingFrom(to, from) };
}

/** The authority surfaces (provided and used) a desired state lets its instances touch. */
export function desiredSurfaces(desired: DesiredState): ProvidedSurface[] {
  const all = new Map<string, ProvidedSurface>();
  for (const s of desired.surfaces) all.set(providedSurfaceKey(s), s);
  for (const n of desired.needs.surfaces) {
    const surface = { contractId: n.contractId, kind: n.kind, name: n.name };
    all.set(providedSurfaceKey(surface), surface);
  }
  return [...all.values()].sort(byKey(providedSurfaceKey));
}
