import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ContractManifest } from "@trellis/contracts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AuthorityProposal,
  type DesiredChange,
  emptyDesiredState,
  PLAN_TTL_MS,
  serviceLineageKey,
  serviceOfferId,
} from "./authority-repository.js";
import { type ControlPlaneStore, openStore } from "./store.js";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);
const KEY_A = "A".repeat(43);

let dir: string;
let store: ControlPlaneStore;
let now: Date;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-authority-"));
  now = T0;
  store = openStore(join(dir, "trellis.sqlite"), { clock: () => now });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Two manifests of one lineage with different digests (the kind is part of the digest). */
function manifest(version: "1" | "2"): ContractManifest {
  return {
    format: "trellis.contract.v1",
    id: "acme.billing@v1",
    displayName: "Billing",
    description: "Billing",
    kind: version === "1" ? "service" : "app",
  } as ContractManifest;
}

function proposal(digest: string): AuthorityProposal {
  return {
    deploymentId: "billing",
    contractId: "acme.billing@v1",
    contractDigest: digest,
    requestedNeeds: {
      contracts: [{ contractId: "trellis.core@v1", required: true }],
      surfaces: [],
      capabilities: [],
      resources: [{ kind: "kv", alias: "cache", required: true, definition: { purpose: "cache" } }],
    },
    providedSurfaces: [{ contractId: "acme.billing@v1", kind: "rpc", name: "Billing.Charge" }],
  };
}

const noChange: DesiredChange = {
  added: { needs: emptyDesiredState().needs, surfaces: [], resources: [], capabilities: [] },
  removed: { needs: emptyDesiredState().needs, surfaces: [], resources: [], capabilities: [] },
};

describe("DeploymentAuthoritiesRepository", () => {
  it("creates the authority of an existing deployment on first read, never for a missing one", () => {
    expect(store.authorities.ensure("billing")).toBeUndefined();
    store.serviceDeployments.create({ deploymentId: "billing", namespaces: ["billing"] }).unwrap();
    const created = store.authorities.ensure("billing");
    expect(created).toMatchObject({
      deploymentId: "billing",
      kind: "service",
      disabled: false,
      desiredState: emptyDesiredState(),
      createdAt: T0.toISOString(),
    });
    expect(created?.version).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    now = at(1000);
    expect(store.authorities.ensure("billing")).toEqual(created);
  });

  it("lists authorities, creating the missing ones", () => {
    store.serviceDeployments.create({ deploymentId: "a", namespaces: [] }).unwrap();
    now = at(1);
    store.serviceDeployments.create({ deploymentId: "b", namespaces: [] }).unwrap();
    const page = store.authorities.list({ limit: 1 });
    expect(page).toMatchObject({ count: 2, nextOffset: 1 });
    expect(page.entries.map((a) => a.deploymentId)).toEqual(["a"]);
    expect(store.authorities.get("b")?.deploymentId).toBe("b");
  });

  it("replaces the desired state with a new version and refuses a stale expected version", () => {
    store.serviceDeployments.create({ deploymentId: "billing", namespaces: [] }).unwrap();
    const before = store.authorities.ensure("billing");
    if (before === undefined) throw new Error("no authority");
    const desired = { ...emptyDesiredState(), capabilities: ["service"] };
    now = at(1000);
    const updated = store.authorities.setDesiredState("billing", desired, before.version).unwrap();
    expect(updated.version).not.toBe(before.version);
    expect(updated.desiredState.capabilities).toEqual(["service"]);
    expect(updated.updatedAt).toBe(at(1000).toISOString());

    const conflict = store.authorities.setDesiredState("billing", emptyDesiredState(), before.version);
    expect(conflict.take()).toMatchObject({ reason: "desired_version_conflict" });
    expect(store.authorities.setDesiredState("missing", emptyDesiredState()).take()).toMatchObject({
      reason: "deployment_not_found",
    });
  });

  it("activates digests per lineage and retires the others", () => {
    store.serviceDeployments.create({ deploymentId: "billing", namespaces: [] }).unwrap();
    const v1 = store.contracts.put(manifest("1"));
    const v2 = store.contracts.put(manifest("2"));
    store.authorities.activateContract("billing", v1.contractId, v1.digest);
    now = at(1);
    store.authorities.activateContract("billing", v2.contractId, v2.digest);
    expect(store.authorities.isActive("billing", v1.digest)).toBe(true);
    expect(store.authorities.listActiveContracts("billing").map((c) => c.contractDigest)).toEqual([
      v1.digest,
      v2.digest,
    ]);
    expect(store.authorities.retireOtherDigests("billing", v2.contractId, v2.digest)).toEqual([v1.digest]);
    expect(store.authorities.isActive("billing", v1.digest)).toBe(false);
    expect(store.authorities.listActiveContracts().map((c) => c.contractDigest)).toEqual([v2.digest]);
  });

  it("refuses to activate a digest that is not stored", () => {
    store.serviceDeployments.create({ deploymentId: "billing", namespaces: [] }).unwrap();
    expect(() => store.authorities.activateContract("billing", "x@v1", "unknown-digest")).toThrow(
      /FOREIGN KEY/,
    );
  });

  it("removing the deployment removes its authority, active contracts, plans and offers", () => {
    store.serviceDeployments.create({ deploymentId: "billing", namespaces: [] }).unwrap();
    const instance = store.serviceInstances
      .provision({ deploymentId: "billing", instanceKey: KEY_A })
      .unwrap();
    const v1 = store.contracts.put(manifest("1"));
    store.authorities.ensure("billing");
    store.authorities.activateContract("billing", v1.contractId, v1.digest);
    const plan = store.plans.create({
      deploymentId: "billing",
      classification: "update",
      proposal: proposal(v1.digest),
      desiredChange: noChange,
      materializationPreview: {},
    });
    store.offers.upsertAccepted({
      deploymentId: "billing",
      instanceId: instance.instanceId,
      contractId: v1.contractId,
      contractDigest: v1.digest,
    });
    store.serviceInstances.removeByDeployment("billing");
    expect(store.offers.list()).toEqual([]);
    store.serviceDeployments.remove("billing").unwrap();
    expect(store.authorities.get("billing")).toBeUndefined();
    expect(store.authorities.listActiveContracts()).toEqual([]);
    expect(store.plans.get(plan.planId)).toBeUndefined();
  });
});

describe("AuthorityPlansRepository", () => {
  beforeEach(() => {
    store.serviceDeployments.create({ deploymentId: "billing", namespaces: [] }).unwrap();
  });

  it("records pending plans, finds them by digest and pages them newest first", () => {
    const update = store.plans.create({
      deploymentId: "billing",
      classification: "update",
      proposal: proposal("d1"),
      desiredChange: noChange,
      materializationPreview: { nats: [] },
      warnings: ["careful"],
    });
    expect(update).toMatchObject({
      state: "pending",
      classification: "update",
      acknowledgementRequired: false,
      warnings: ["careful"],
      decisionAt: null,
      decisionBy: null,
      decisionReason: null,
      createdAt: T0.toISOString(),
      expiresAt: at(PLAN_TTL_MS).toISOString(),
      proposal: proposal("d1"),
      materializationPreview: { nats: [] },
    });
    now = at(1);
    const migration = store.plans.create({
      deploymentId: "billing",
      classification: "migration",
      proposal: proposal("d2"),
      desiredChange: noChange,
      materializationPreview: {},
    });
    expect(migration.acknowledgementRequired).toBe(true);
    expect(store.plans.findPending("billing", "d1")?.planId).toBe(update.planId);
    expect(store.plans.findPending("billing", "d3")).toBeUndefined();
    expect(store.plans.list().entries.map((p) => p.planId)).toEqual([migration.planId, update.planId]);
    expect(store.plans.list({}, { classification: "migration" }).count).toBe(1);
    expect(store.plans.list({}, { deploymentId: "other" }).count).toBe(0);
  });

  it("decides pending plans once and refuses unknown, decided or expired ones", () => {
    const plan = store.plans.create({
      deploymentId: "billing",
      classification: "update",
      proposal: proposal("d1"),
      desiredChange: noChange,
      materializationPreview: {},
    });
    now = at(5);
    const accepted = store.plans.decide(plan.planId, "accepted", { kind: "user", userId: "usr_1" }).unwrap();
    expect(accepted).toMatchObject({
      state: "accepted",
      decisionAt: at(5).toISOString(),
      decisionBy: { kind: "user", userId: "usr_1" },
    });
    expect(store.plans.findPending("billing", "d1")).toBeUndefined();
    expect(
      store.plans.decide(plan.planId, "rejected", { kind: "user", userId: "usr_1" }).take(),
    ).toMatchObject({
      reason: "plan_not_pending",
    });
    expect(store.plans.decide("nope", "rejected", { kind: "user", userId: "usr_1" }).take()).toMatchObject({
      reason: "plan_not_found",
    });

    const old = store.plans.create({
      deploymentId: "billing",
      classification: "update",
      proposal: proposal("d2"),
      desiredChange: noChange,
      materializationPreview: {},
    });
    now = at(5 + PLAN_TTL_MS);
    expect(store.plans.findPending("billing", "d2")).toBeUndefined();
    expect(
      store.plans.decide(old.planId, "accepted", { kind: "user", userId: "usr_1" }).take(),
    ).toMatchObject({
      reason: "plan_not_pending",
    });
    expect(store.plans.get(old.planId)?.state).toBe("expired");
  });
});

describe("ImplementationOffersRepository", () => {
  it("accepts offers, stales older digests of the lineage and tracks liveness", () => {
    store.serviceDeployments.create({ deploymentId: "billing", namespaces: [] }).unwrap();
    const instance = store.serviceInstances
      .provision({ deploymentId: "billing", instanceKey: KEY_A })
      .unwrap();
    const key = {
      deploymentId: "billing",
      instanceId: instance.instanceId,
      contractId: "acme.billing@v1",
      contractDigest: "d1",
    };
    const first = store.offers.upsertAccepted(key);
    expect(first).toMatchObject({
      offerId: serviceOfferId(key),
      lineageKey: serviceLineageKey("billing", "acme.billing@v1"),
      deploymentKind: "service",
      status: "accepted",
      liveness: "unknown",
      firstOfferedAt: T0.toISOString(),
      acceptedAt: T0.toISOString(),
      staleAt: null,
    });
    expect(first.offerId).toBe(
      JSON.stringify(["service", "billing", instance.instanceId, "acme.billing@v1", "d1"]),
    );

    now = at(10);
    store.offers.upsertAccepted({ ...key, contractDigest: "d2" });
    expect(store.offers.get(first.offerId)).toMatchObject({ status: "stale", staleAt: at(10).toISOString() });
    expect(store.offers.findAccepted("billing", instance.instanceId, "d1")).toBeUndefined();
    expect(store.offers.findAccepted("billing", instance.instanceId, "d2")?.status).toBe("accepted");

    expect(store.offers.setLiveness(instance.instanceId, "healthy", "d2")).toBe(1);
    expect(store.offers.findAccepted("billing", instance.instanceId, "d2")?.liveness).toBe("healthy");
    expect(store.offers.setLiveness(instance.instanceId, "disconnected")).toBe(1);
    expect(store.offers.list({ status: "accepted" }).map((o) => o.liveness)).toEqual(["disconnected"]);

    // Re-offering the stale digest accepts it again and keeps its first offer time.
    now = at(20);
    const again = store.offers.upsertAccepted(key);
    expect(again).toMatchObject({
      status: "accepted",
      firstOfferedAt: T0.toISOString(),
      acceptedAt: at(20).toISOString(),
    });
    expect(store.offers.staleDigests("billing", ["d1"])).toBe(1);
    expect(store.offers.list({ deploymentId: "billing", status: "stale" })).toHaveLength(2);
  });
});
