/**
 * `trellis.core@v1` served by the control plane (contracts spec §9; design/authority.md):
 *
 * - `Trellis.Catalog` — the active catalog (built-ins ∪ digests active in enabled deployments) as
 *   `trellis.catalog.v1`, with the issues an administrator should resolve.
 * - `Trellis.Contract.Get {digest}` — the manifest of a digest **in the catalog** (a manifest merely
 *   presented at sign-in is not "installed" and is not returned).
 * - `Trellis.Bindings.Get` — the calling service's resource bindings, from its deployment's
 *   materialized authority (absent while that is not `current`).
 * - `Trellis.Surface.Status` — whether a surface is usable by the caller: `unknown_contract`,
 *   `unknown_surface`, `unauthorized {missingCapabilities}`, `unavailable {authority_unavailable}` or
 *   `available {liveImplementer, runtime}`.
 */
import type { trellisCore } from "@trellis/builtin-contracts";
import {
  type ContractManifest,
  digestContractManifest,
  type RpcInput,
  type RpcOutput,
  validateContractManifest,
} from "@trellis/contracts";
import { type BaseError, Result } from "@trellis/result";
import { AuthError, type RpcContext, type TrellisService, ValidationError } from "@trellis/runtime";
import { type CatalogContract, ContractCatalog } from "../authority/catalog.js";
import type { ControlPlaneStore } from "../store/store.js";

type CoreContract = typeof trellisCore;
type CoreRpc = keyof CoreContract["API"]["owned"]["rpc"] & string;
type Handler<K extends CoreRpc> = (args: {
  input: RpcInput<CoreContract, K>;
  context: RpcContext;
}) => Promise<Result<RpcOutput<CoreContract, K>, BaseError>>;

type Catalog = RpcOutput<CoreContract, "Trellis.Catalog">["catalog"];
type CatalogIssue = NonNullable<Catalog["issues"]>[number];
type SurfaceStatus = RpcOutput<CoreContract, "Trellis.Surface.Status">["status"];
type SurfaceKind = RpcInput<CoreContract, "Trellis.Surface.Status">["kind"];
type SurfaceAction = NonNullable<RpcInput<CoreContract, "Trellis.Surface.Status">["action"]>;

/** Built-in contracts whose surfaces the control plane itself serves: always live while it runs. */
export const CONTROL_PLANE_CONTRACTS: ReadonlySet<string> = new Set([
  "trellis.auth@v1",
  "trellis.core@v1",
  "trellis.jobs@v1",
  "trellis.state@v1",
]);

/** The manifest section of each surface kind and the actions that apply to it (the first is the default). */
const SURFACE_KINDS: Record<SurfaceKind, { section: keyof ContractManifest; actions: SurfaceAction[] }> = {
  rpc: { section: "rpc", actions: ["call"] },
  operation: { section: "operations", actions: ["call", "observe"] },
  event: { section: "events", actions: ["subscribe", "publish"] },
  feed: { section: "feeds", actions: ["subscribe"] },
};

function invalid(path: string, message: string): ValidationError {
  return new ValidationError([{ path, message }]);
}

// ---------------------------------------------------------------------------------------------
// Trellis.Catalog

/** Deployments enabled in the store, memoized for one computation. */
function enabledDeployments(store: ControlPlaneStore): (deploymentId: string) => boolean {
  const known = new Map<string, boolean>();
  return (deploymentId) => {
    let enabled = known.get(deploymentId);
    if (enabled === undefined) {
      enabled = store.serviceDeployments.get(deploymentId)?.disabled === false;
      known.set(deploymentId, enabled);
    }
    return enabled;
  };
}

/** Active digests whose manifest is missing or no longer valid (they are left out of the catalog). */
function brokenActiveContracts(store: ControlPlaneStore): CatalogIssue[] {
  const isEnabled = enabledDeployments(store);
  const byDigest = new Map<string, { contractId: string; deploymentIds: string[] }>();
  for (const active of store.authorities.listActiveContracts()) {
    if (!isEnabled(active.deploymentId)) continue;
    const entry = byDigest.get(active.contractDigest) ?? { contractId: active.contractId, deploymentIds: [] };
    entry.deploymentIds.push(active.deploymentId);
    byDigest.set(active.contractDigest, entry);
  }
  const issues: CatalogIssue[] = [];
  for (const [digest, { contractId, deploymentIds }] of byDigest) {
    const stored = store.contracts.get(digest);
    const common = { contractId, digest, deploymentIds: deploymentIds.sort(), actions: [] };
    if (stored === undefined) {
      issues.push({
        issueId: `missing-active-contract:${digest}`,
        kind: "missing-active-contract",
        message: `Active contract '${contractId}' (${digest}) has no stored manifest`,
        ...common,
      });
      continue;
    }
    const valid = validateContractManifest(stored.manifest);
    const problem = valid.isErr()
      ? valid.error.message
      : digestContractManifest(valid.value) !== digest
        ? "its manifest digests to a different value"
        : undefined;
    if (problem !== undefined) {
      issues.push({
        issueId: `invalid-active-contract:${digest}`,
        kind: "invalid-active-contract",
        message: `Active contract '${contractId}' (${digest}) is invalid: ${problem}`,
        ...common,
      });
    }
  }
  return issues;
}

/** Issues between active contracts: subject collisions and required uses that do not resolve. */
function catalogEntryIssues(catalog: ContractCatalog, entries: CatalogContract[]): CatalogIssue[] {
  const issues: CatalogIssue[] = [];
  const seenCollisions = new Set<string>();
  for (const entry of entries) {
    for (const collision of catalog.subjectCollisions(entry.manifest, entry.digest)) {
      const pair = [entry.digest, collision.owner.digest].sort().join(":");
      if (seenCollisions.has(`${pair}:${collision.subject}`)) continue;
      seenCollisions.add(`${pair}:${collision.subject}`);
      const owner = entries.find((other) => other.digest === collision.owner.digest);
      issues.push({
        issueId: `incompatible-active-contract:${entry.digest}:${collision.subject}`,
        kind: "incompatible-active-contract",
        message: collision.message,
        contractId: entry.contractId,
        digest: entry.digest,
        deploymentIds: entry.deploymentIds,
        conflictingDigest: collision.owner.digest,
        conflictingDeploymentIds: owner?.deploymentIds ?? [],
        actions: [],
      });
    }
    if (entry.builtin) continue;
    for (const use of catalog.useIssues(entry.manifest)) {
      if (!use.required) continue;
      const detail = use.surface ? `:${use.surface.kind}:${use.surface.name}` : "";
      issues.push({
        issueId: `invalid-active-contract-uses:${entry.digest}:${use.alias}${detail}`,
        kind: "invalid-active-contract-uses",
        message: use.message,
        contractId: entry.contractId,
        digest: entry.digest,
        deploymentIds: entry.deploymentIds,
        actions: [],
      });
    }
  }
  return issues;
}

/** The active catalog as `trellis.catalog.v1`, sorted by contract id then digest, with its issues. */
export function catalogDocument(store: ControlPlaneStore): Catalog {
  const catalog = new ContractCatalog(store);
  const entries = catalog.activeContracts();
  const contracts = entries
    .map((entry) => ({
      id: entry.contractId,
      digest: entry.digest,
      displayName: entry.manifest.displayName,
      description: entry.manifest.description,
    }))
    .sort((a, b) => (a.id === b.id ? (a.digest < b.digest ? -1 : 1) : a.id < b.id ? -1 : 1));
  const issues = [...brokenActiveContracts(store), ...catalogEntryIssues(catalog, entries)];
  return { format: "trellis.catalog.v1", contracts, ...(issues.length > 0 && { issues }) };
}

// ---------------------------------------------------------------------------------------------
// Trellis.Surface.Status

/**
 * How the implementers of a (non control-plane) contract are doing: `unavailable` when no enabled
 * deployment running it has current materialized authority, else whether an accepted offer of an
 * enabled instance is healthy (`live`), all such instances are disabled (`disabled`), or none is
 * connected (`no_live_implementer`).
 */
function runtimeStatus(store: ControlPlaneStore, entries: CatalogContract[]): SurfaceStatus {
  const digests = new Set(entries.map((entry) => entry.digest));
  const deploymentIds = [...new Set(entries.flatMap((entry) => entry.deploymentIds))];
  const builtin = entries.some((entry) => entry.builtin);
  const authorized = deploymentIds.filter((deploymentId) => {
    const desired = store.authorities.get(deploymentId);
    const materialized = store.materialized.get(deploymentId);
    return (
      desired !== undefined &&
      materialized?.status === "current" &&
      materialized.desiredVersion === desired.version
    );
  });
  if (!builtin && authorized.length === 0) return { state: "unavailable", reason: "authority_unavailable" };
  const offers = authorized.flatMap((deploymentId) =>
    store.offers
      .list({ deploymentId, status: "accepted" })
      .filter((offer) => digests.has(offer.contractDigest)),
  );
  const enabledOffers = offers.filter(
    (offer) => offer.instanceId !== null && store.serviceInstances.get(offer.instanceId)?.disabled === false,
  );
  if (enabledOffers.some((offer) => offer.liveness === "healthy")) {
    return { state: "available", liveImplementer: true, runtime: "live" };
  }
  const runtime = offers.length > 0 && enabledOffers.length === 0 ? "disabled" : "no_live_implementer";
  return { state: "available", liveImplementer: false, runtime };
}

/** The status of one surface for a caller holding `capabilities`. */
export function surfaceStatus(
  store: ControlPlaneStore,
  input: RpcInput<CoreContract, "Trellis.Surface.Status">,
  capabilities: readonly string[],
): Result<SurfaceStatus, ValidationError> {
  const { contractId, kind, surface } = input;
  const { section, actions } = SURFACE_KINDS[kind];
  const action = input.action ?? (actions[0] as SurfaceAction);
  if (!actions.includes(action)) {
    return Result.err(
      invalid(
        "/action",
        `action '${action}' does not apply to ${kind} surfaces (use ${actions.join(" or ")})`,
      ),
    );
  }
  const entries = new ContractCatalog(store)
    .activeContracts()
    .filter((entry) => entry.contractId === contractId);
  if (entries.length === 0) return Result.ok({ state: "unknown_contract", contractId });
  // The newest activation describes the contract (a deployment's digest before a built-in's).
  const current = entries.reduce((best, entry) =>
    best.builtin !== entry.builtin
      ? entry.builtin
        ? best
        : entry
      : entry.activatedAt > best.activatedAt
        ? entry
        : best,
  );
  const surfaces = (current.manifest[section] ?? {}) as Record<
    string,
    { capabilities?: Record<string, unknown> }
  >;
  const declared = Object.hasOwn(surfaces, surface) ? surfaces[surface] : undefined;
  if (declared === undefined) return Result.ok({ state: "unknown_surface", contractId, kind, surface });
  const required = declared.capabilities?.[action];
  const held = new Set(capabilities);
  const missingCapabilities = (Array.isArray(required) ? (required as string[]) : []).filter(
    (capability) => !held.has(capability),
  );
  if (missingCapabilities.length > 0) return Result.ok({ state: "unauthorized", missingCapabilities });
  if (CONTROL_PLANE_CONTRACTS.has(contractId)) {
    return Result.ok({ state: "available", liveImplementer: true, runtime: "live" });
  }
  return Result.ok(runtimeStatus(store, entries));
}

// ---------------------------------------------------------------------------------------------
// Trellis.Bindings.Get

/**
 * The calling service's binding (see the module doc). The session row is read directly: the caller
 * was authenticated already, and the binding must follow the materialized authority even while the
 * authenticator still caches the session.
 */
function bindingsOf(
  store: ControlPlaneStore,
  input: RpcInput<CoreContract, "Trellis.Bindings.Get">,
  context: RpcContext,
): Result<RpcOutput<CoreContract, "Trellis.Bindings.Get">, BaseError> {
  const session = context.sessionKey === undefined ? undefined : store.sessions.get(context.sessionKey);
  const deploymentId =
    session?.type === "service"
      ? (session.deploymentId ?? store.serviceInstances.getByKey(session.sessionKey)?.deploymentId)
      : undefined;
  if (session === undefined || deploymentId === undefined) {
    return Result.err(
      new AuthError("forbidden", "Trellis.Bindings.Get is for service sessions of a deployment"),
    );
  }
  const active = store.authorities.listActiveContracts(deploymentId);
  let chosen: { contractId: string; contractDigest: string } | undefined;
  if (input.digest !== undefined) {
    chosen = active.find((entry) => entry.contractDigest === input.digest);
    if (chosen === undefined) {
      return Result.err(
        invalid("/digest", `digest '${input.digest}' is not active in deployment '${deploymentId}'`),
      );
    }
    if (input.contractId !== undefined && chosen.contractId !== input.contractId) {
      return Result.err(
        invalid(
          "/contractId",
          `digest '${input.digest}' belongs to '${chosen.contractId}', not '${input.contractId}'`,
        ),
      );
    }
  } else {
    const contractId = input.contractId ?? session.contractId;
    const digest = input.contractId === undefined ? session.contractDigest : undefined;
    const candidates = active.filter(
      (entry) =>
        entry.contractId === contractId &&
        (digest === undefined || digest === null || entry.contractDigest === digest),
    );
    chosen = candidates.sort((a, b) => (a.activatedAt < b.activatedAt ? 1 : -1))[0];
    if (chosen === undefined) {
      return Result.err(
        invalid(
          "/contractId",
          `contract '${contractId ?? "(none)"}' is not active in deployment '${deploymentId}'`,
        ),
      );
    }
  }
  const desired = store.authorities.get(deploymentId);
  const materialized = store.materialized.get(deploymentId);
  if (materialized?.status !== "current" || materialized.desiredVersion !== desired?.version)
    return Result.ok({});
  const resources = materialized.resourceBindings;
  return Result.ok({
    binding: { contractId: chosen.contractId, digest: chosen.contractDigest, resources },
    ...(resources.eventConsumers !== undefined && { eventConsumers: resources.eventConsumers }),
  });
}

// ---------------------------------------------------------------------------------------------

/** What {@link mountCoreRpcs} needs. */
export interface CoreRpcOptions {
  /** The control-plane store. */
  store: ControlPlaneStore;
}

/** The `trellis.core@v1` handlers, by logical name. */
export function coreHandlers(options: CoreRpcOptions): { [K in CoreRpc]: Handler<K> } {
  const { store } = options;
  return {
    "Trellis.Catalog": async () => Result.ok({ catalog: catalogDocument(store) }),
    "Trellis.Contract.Get": async ({ input }) => {
      const entry = new ContractCatalog(store).activeContracts().find((e) => e.digest === input.digest);
      if (entry === undefined) {
        return Result.err(invalid("/digest", `no contract with digest '${input.digest}' is in the catalog`));
      }
      return Result.ok({
        contract: entry.manifest as RpcOutput<CoreContract, "Trellis.Contract.Get">["contract"],
      });
    },
    "Trellis.Bindings.Get": async ({ input, context }) => bindingsOf(store, input, context),
    "Trellis.Surface.Status": async ({ input, context }) =>
      surfaceStatus(store, input, context.caller.capabilities).map((status) => ({ status })),
  };
}

/** Mounts `Trellis.*` on `service` (a `TrellisService` of `trellis.core@v1`). */
export function mountCoreRpcs(service: TrellisService<CoreContract>, options: CoreRpcOptions): void {
  const handlers = coreHandlers(options);
  const rpc = service.handle.rpc.trellis;
  rpc.catalog(handlers["Trellis.Catalog"]);
  rpc.contractGet(handlers["Trellis.Contract.Get"]);
  rpc.bindingsGet(handlers["Trellis.Bindings.Get"]);
  rpc.surfaceStatus(handlers["Trellis.Surface.Status"]);
}
