/**
 * The contract catalog (contracts spec §7, §9; design/authority.md): the built-in contracts, installed
 * at start, and the digests active in enabled deployments. It answers which contract an id resolves
 * to, whether a manifest's subjects collide with another contract's, and whether its `uses` resolve.
 */
import { BUILTIN_CONTRACTS } from "@trellis/builtin-contracts";
import { type ContractManifest, type ContractResolver, subjectCollisionKey } from "@trellis/contracts";
import type { ControlPlaneStore } from "../store/store.js";
import { surfaceSections } from "./proposal.js";

/** One contract digest of the catalog. */
export interface CatalogContract {
  /** Its digest. */
  digest: string;
  /** Its lineage (contract id). */
  contractId: string;
  /** Its manifest. */
  manifest: ContractManifest;
  /** `true` for the contracts Trellis itself owns. */
  builtin: boolean;
  /** Enabled deployments in which the digest is active. */
  deploymentIds: string[];
  /** When it became active (the earliest activation; install time for built-ins). */
  activatedAt: string;
}

/** A surface subject already owned by another contract. */
export interface SubjectCollision {
  /** The wildcard subject. */
  subject: string;
  /** The owning contract. */
  owner: { contractId: string; displayName: string; digest: string };
  /** "RPC subject 'S' already owned by '<displayName> (<id>)'". */
  message: string;
}

/** A `uses` entry that does not resolve. */
export interface UseIssue {
  /** The alias under `uses.required|optional`. */
  alias: string;
  /** The referenced contract id. */
  contractId: string;
  /** `required` blocks activation; `optional` is skipped until it resolves. */
  required: boolean;
  /** `unknown`: never stored; `inactive`: stored but not active; `missing`: active but lacks the surface. */
  reason: "unknown" | "inactive" | "missing";
  /** The missing surface, for `missing`. */
  surface?: { kind: "rpc" | "operation" | "event" | "feed"; name: string };
  /** "Dependency '<alias>' references inactive contract 'X'" and the like. */
  message: string;
}

const SURFACE_LABELS = { rpc: "RPC", operation: "Operation", event: "Event", feed: "Feed" } as const;

type SurfaceKind = keyof typeof SURFACE_LABELS;

interface SubjectEntry {
  kind: SurfaceKind;
  name: string;
  key: string;
}

function subjectsOf(manifest: ContractManifest): SubjectEntry[] {
  const entries: SubjectEntry[] = [];
  for (const [kind, section] of surfaceSections(manifest)) {
    for (const [name, surface] of Object.entries(section ?? {})) {
      entries.push({ kind, name, key: subjectCollisionKey(surface.subject) });
    }
  }
  return entries;
}

/** The catalog over the control-plane store. */
export class ContractCatalog {
  constructor(private readonly store: ControlPlaneStore) {}

  /** Stores the built-in contracts (idempotent); called at start. */
  installBuiltins(now: Date = this.store.clock()): void {
    this.store.transaction(() => {
      for (const module of BUILTIN_CONTRACTS) {
        const stored = this.store.contracts.put(module.CONTRACT, now);
        if (stored.digest !== module.CONTRACT_DIGEST) {
          throw new Error(
            `built-in contract '${module.CONTRACT_ID}' digests to '${stored.digest}', not '${module.CONTRACT_DIGEST}'`,
          );
        }
      }
    });
  }

  /** Every contract digest of the catalog: the built-ins, then the digests active in enabled deployments. */
  activeContracts(): CatalogContract[] {
    const byDigest = new Map<string, CatalogContract>();
    for (const module of BUILTIN_CONTRACTS) {
      const stored = this.store.contracts.get(module.CONTRACT_DIGEST);
      byDigest.set(module.CONTRACT_DIGEST, {
        digest: module.CONTRACT_DIGEST,
        contractId: module.CONTRACT_ID,
        manifest: module.CONTRACT,
        builtin: true,
        deploymentIds: [],
        activatedAt: stored?.installedAt ?? new Date(0).toISOString(),
      });
    }
    const enabled = new Map<string, boolean>();
    const isEnabled = (deploymentId: string): boolean => {
      let value = enabled.get(deploymentId);
      if (value === undefined) {
        value = this.store.serviceDeployments.get(deploymentId)?.disabled === false;
        enabled.set(deploymentId, value);
      }
      return value;
    };
    for (const active of this.store.authorities.listActiveContracts()) {
      if (!isEnabled(active.deploymentId)) continue;
      const existing = byDigest.get(active.contractDigest);
      if (existing !== undefined) {
        existing.deploymentIds.push(active.deploymentId);
        if (!existing.builtin && active.activatedAt < existing.activatedAt)
          existing.activatedAt = active.activatedAt;
        continue;
      }
      const stored = this.store.contracts.get(active.contractDigest);
      if (stored === undefined) continue;
      byDigest.set(active.contractDigest, {
        digest: stored.digest,
        contractId: stored.contractId,
        manifest: stored.manifest,
        builtin: false,
        deploymentIds: [active.deploymentId],
        activatedAt: active.activatedAt,
      });
    }
    return [...byDigest.values()];
  }

  /**
   * Resolves a contract id to its newest active digest's manifest (a deployment's digest before a
   * built-in of the same id); `undefined` when no digest of the id is active.
   */
  resolver(): ContractResolver {
    const byId = new Map<string, CatalogContract>();
    for (const entry of this.activeContracts()) {
      const existing = byId.get(entry.contractId);
      const better =
        existing === undefined ||
        (existing.builtin !== entry.builtin ? !entry.builtin : entry.activatedAt > existing.activatedAt);
      if (better) byId.set(entry.contractId, entry);
    }
    return (contractId) => byId.get(contractId)?.manifest;
  }

  /**
   * The subjects of `manifest` that another active contract already owns: the same wildcard subject on
   * a different lineage, or on a different surface of the same lineage (contracts spec §9).
   */
  subjectCollisions(manifest: ContractManifest, digest: string): SubjectCollision[] {
    const owners = new Map<string, { entry: CatalogContract; surface: SubjectEntry }>();
    for (const entry of this.activeContracts()) {
      if (entry.digest === digest) continue;
      for (const surface of subjectsOf(entry.manifest)) {
        if (!owners.has(surface.key)) owners.set(surface.key, { entry, surface });
      }
    }
    const collisions: SubjectCollision[] = [];
    for (const surface of subjectsOf(manifest)) {
      const owner = owners.get(surface.key);
      if (owner === undefined) continue;
      const sameSurface =
        owner.entry.contractId === manifest.id &&
        owner.surface.kind === surface.kind &&
        owner.surface.name === surface.name;
      if (sameSurface) continue;
      const { contractId, manifest: ownerManifest } = owner.entry;
      collisions.push({
        subject: surface.key,
        owner: { contractId, displayName: ownerManifest.displayName, digest: owner.entry.digest },
        message: `${SURFACE_LABELS[surface.kind]} subject '${surface.key}' already owned by '${ownerManifest.displayName} (${contractId})'`,
      });
    }
    return collisions;
  }

  /**
   * The `uses` entries of `manifest` that do not resolve against the catalog. Required ones block
   * activation; optional ones are reported with `required: false` and grant nothing until they resolve.
   */
  useIssues(manifest: ContractManifest): UseIssue[] {
    const resolve = this.resolver();
    const issues: UseIssue[] = [];
    const requiredAliases = new Set(Object.keys(manifest.uses?.required ?? {}));
    const groups = [
      { entries: manifest.uses?.required ?? {}, required: true },
      { entries: manifest.uses?.optional ?? {}, required: false },
    ];
    for (const { entries, required } of groups) {
      for (const [alias, use] of Object.entries(entries)) {
        if (!required && requiredAliases.has(alias)) continue;
        const contractId = use.contract;
        const target = resolve(contractId);
        if (target === undefined) {
          const reason =
            this.store.contracts.listByContractId(contractId).length > 0 ? "inactive" : "unknown";
          issues.push({
            alias,
            contractId,
            required,
            reason,
            message: `Dependency '${alias}' references ${reason} contract '${contractId}'`,
          });
          continue;
        }
        const selections: [SurfaceKind, readonly string[], object | undefined][] = [
          ["rpc", use.rpc?.call ?? [], target.rpc],
          ["operation", use.operations?.call ?? [], target.operations],
          ["event", [...(use.events?.publish ?? []), ...(use.events?.subscribe ?? [])], target.events],
          ["feed", use.feeds?.subscribe ?? [], target.feeds],
        ];
        for (const [kind, names, section] of selections) {
          for (const name of new Set(names)) {
            if (section !== undefined && Object.hasOwn(section, name)) continue;
            issues.push({
              alias,
              contractId,
              required,
              reason: "missing",
              surface: { kind, name },
              message: `Dependency '${alias}' references missing ${kind} '${name}' on '${contractId}'`,
            });
          }
        }
      }
    }
    return issues;
  }
}
