/**
 * `Auth.Capabilities.List` and `Auth.CapabilityGroups.*`: the catalog of capabilities an
 * administrator can hand out — the platform's own plus every capability declared by a builtin or
 * stored contract — and the groups built from them.
 */
import { BUILTIN_CONTRACTS } from "@trellis/builtin-contracts";
import { ADMIN_CAPABILITY, type ContractManifest, SERVICE_CAPABILITY } from "@trellis/contracts";
import { Result } from "@trellis/result";
import type { CapabilityGroup } from "../store/capability-groups-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import { deleteCapabilityGroup, putCapabilityGroup } from "../users/capabilities.js";
import { pageOf } from "./paging.js";
import { refuse, success } from "./responses.js";
import type { AuthRpcDeps, AuthRpcHandlers, AuthRpcOutput } from "./types.js";

type CapabilitiesRpc =
  | "Auth.Capabilities.List"
  | "Auth.CapabilityGroups.List"
  | "Auth.CapabilityGroups.Get"
  | "Auth.CapabilityGroups.Put"
  | "Auth.CapabilityGroups.Delete";

/** One cataloged capability. */
export type CapabilityEntry = AuthRpcOutput<"Auth.Capabilities.List">["entries"][number];

/** The capabilities the platform itself defines. */
export const PLATFORM_CAPABILITIES: readonly CapabilityEntry[] = Object.freeze([
  {
    key: ADMIN_CAPABILITY,
    displayName: "Administrator",
    description: "Administer the Trellis deployment: users, capability groups, sessions and connections.",
    consequence: "Grants full control over who may do what.",
    source: "platform",
  },
  {
    key: SERVICE_CAPABILITY,
    displayName: "Service",
    description: "Held by service principals only: serve contracts and validate the requests they receive.",
    source: "platform",
  },
]);

function contractEntries(manifest: ContractManifest, digest: string): CapabilityEntry[] {
  return Object.entries(manifest.capabilities ?? {}).map(([key, meta]) => ({
    key,
    displayName: meta.displayName,
    description: meta.description,
    ...(meta.consequence !== undefined && { consequence: meta.consequence }),
    source: "contract",
    contractId: manifest.id,
    contractDigest: digest,
    contractDisplayName: manifest.displayName,
  }));
}

/**
 * Every known capability by key: the platform ones, then those of the builtin contracts, then those of
 * stored contracts (newest digest of each contract first). The first declaration of a key wins.
 */
export function capabilityCatalog(store: ControlPlaneStore): Map<string, CapabilityEntry> {
  const catalog = new Map<string, CapabilityEntry>();
  const add = (entries: readonly CapabilityEntry[]) => {
    for (const entry of entries) if (!catalog.has(entry.key)) catalog.set(entry.key, entry);
  };
  add(PLATFORM_CAPABILITIES);
  for (const module of BUILTIN_CONTRACTS) add(contractEntries(module.CONTRACT, module.CONTRACT_DIGEST));
  for (const stored of store.contracts.list()) add(contractEntries(stored.manifest, stored.digest));
  return catalog;
}

/** Platform capabilities first, then by key. */
function byCatalogOrder(a: CapabilityEntry, b: CapabilityEntry): number {
  if (a.source !== b.source) return a.source === "platform" ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

type GroupView = AuthRpcOutput<"Auth.CapabilityGroups.Get">["group"];

/** A capability group as the RPCs show it. */
function groupView(group: CapabilityGroup): GroupView {
  return {
    groupKey: group.groupKey,
    displayName: group.displayName,
    description: group.description || group.displayName,
    capabilities: group.capabilities,
    includedGroups: group.includedGroups,
    createdAt: group.createdAt,
    updatedAt: group.updatedAt,
  };
}

/** Handlers of `Auth.Capabilities.List` and `Auth.CapabilityGroups.*`. */
export function capabilityHandlers({ ctx }: AuthRpcDeps): AuthRpcHandlers<CapabilitiesRpc> {
  const { store } = ctx;
  return {
    "Auth.Capabilities.List": async ({ input }) => {
      const entries = [...capabilityCatalog(store).values()].sort(byCatalogOrder);
      return Result.ok(pageOf(entries, input));
    },

    "Auth.CapabilityGroups.List": async ({ input }) =>
      Result.ok(pageOf(store.capabilityGroups.list().map(groupView), input)),

    "Auth.CapabilityGroups.Get": async ({ input }) => {
      const group = store.capabilityGroups.get(input.groupKey);
      if (group === undefined) {
        return refuse("capability_group_not_found", `Capability group '${input.groupKey}' not found`);
      }
      return Result.ok({ group: groupView(group) });
    },

    "Auth.CapabilityGroups.Put": async ({ input }) => {
      const catalog = capabilityCatalog(store);
      const capabilities = input.capabilities ?? [];
      const includedGroups = input.includedGroups ?? [];
      // `service` is cataloged but belongs to service principals; users never hold it.
      const uncataloged = capabilities.filter((key) => !catalog.has(key) || key === SERVICE_CAPABILITY);
      if (uncataloged.length > 0) {
        return refuse("invalid_request", `Unknown capabilities: ${uncataloged.join(", ")}`, {
          capabilities: uncataloged,
        });
      }
      const unknownGroups = includedGroups.filter(
        (key) => key !== input.groupKey && store.capabilityGroups.get(key) === undefined,
      );
      if (unknownGroups.length > 0) {
        return refuse("invalid_request", `Unknown capability groups: ${unknownGroups.join(", ")}`, {
          includedGroups: unknownGroups,
        });
      }
      const put = putCapabilityGroup(
        store,
        {
          groupKey: input.groupKey,
          displayName: input.displayName,
          description: input.description,
          capabilities,
          includedGroups,
        },
        ctx.now(),
      );
      if (!put.ok) return refuse(put.error.reason, put.error.message);
      return Result.ok({ group: groupView(put.value) });
    },

    "Auth.CapabilityGroups.Delete": async ({ input }) => {
      const deleted = deleteCapabilityGroup(store, input.groupKey);
      if (deleted.ok) return success();
      if (deleted.error.reason === "capability_group_not_found") return success(false);
      return refuse(deleted.error.reason, deleted.error.message);
    },
  };
}
