import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trellisHealth } from "@trellis/builtin-contracts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { billingModule, clashModule, presented, shopModule } from "../../test/support/authority-contracts.js";
import { type ControlPlaneStore, openStore } from "../store/store.js";
import { ContractCatalog } from "./catalog.js";
import { DeploymentAuthorityService } from "./planning.js";
import { deriveProposal, desiredStateOf, proposalFits } from "./proposal.js";
import type { MaterializedAuthorityView, Reconciler } from "./reconciler.js";

const T0 = new Date("2030-01-01T00:00:00.000Z");

let dir: string;
let store: ControlPlaneStore;
let now: Date;
let catalog: ContractCatalog;
let reconciled: string[];
let dependents: string[];
let service: DeploymentAuthorityService;

/** Records what it is asked to reconcile; answers with a current materialization. */
const recordingReconciler: Reconciler = {
  async reconcile(deploymentId: string): Promise<MaterializedAuthorityView> {
    reconciled.push(deploymentId);
    return {
      deploymentId,
      desiredVersion: store.authorities.get(deploymentId)?.version ?? "none",
      status: "current",
      grants: { capabilities: [], surfaces: [], nats: [] },
      resourceBindings: {},
      reconciledAt: now.toISOString(),
    };
  },
  async reconcileDependentsOf(contractId: string): Promise<void> {
    dependents.push(contractId);
  },
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-planning-"));
  now = T0;
  store = openStore(join(dir, "trellis.sqlite"), { clock: () => now });
  catalog = new ContractCatalog(store);
  catalog.installBuiltins();
  reconciled = [];
  dependents = [];
  service = new DeploymentAuthorityService({
    store,
    catalog,
    reconciler: recordingReconciler,
    now: () => now,
  });
  store.serviceDeployments.create({ deploymentId: "billing", namespaces: ["Billing"] }).unwrap();
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const admin = { kind: "user" as const, userId: "usr_admin" };

describe("deriveProposal", () => {
  it("lists uses, the capabilities they need, resources and provided surfaces", () => {
    const shop = presented(shopModule());
    catalog.installBuiltins();
    const resolve = (id: string) => (id === "acme.billing@v1" ? billingModule("v1").CONTRACT : undefined);
    const proposal = deriveProposal("shop", shop.digest, shop.manifest, resolve);
    expect(proposal.requestedNeeds.contracts).toEqual([
      { contractId: "acme.billing@v1", required: true },
      { contractId: "acme.ghost@v1", required: false },
      { contractId: trellisHealth.CONTRACT_ID, required: true },
    ]);
    expect(proposal.requestedNeeds.surfaces).toContainEqual({
      contractId: "acme.billing@v1",
      kind: "rpc",
      name: "Billing.Charge",
      action: "call",
      required: true,
    });
    expect(proposal.requestedNeeds.capabilities).toEqual([
      { capability: "acme.billing::charge", required: true },
    ]);
    expect(proposal.providedSurfaces).toEqual([
      { contractId: "acme.shop@v1", kind: "rpc", name: "Shop.Buy" },
    ]);

    const billing = presented(billingModule("v1"));
    const own = deriveProposal("billing", billing.digest, billing.manifest, () => undefined);
    expect(own.requestedNeeds.resources).toEqual([
      {
        kind: "kv",
        alias: "cache",
        required: true,
        definition: expect.objectContaining({ purpose: "Receipts cache", history: 2 }),
      },
    ]);
    expect(proposalFits(desiredStateOf([own]), own)).toBe(true);
    expect(proposalFits(desiredStateOf([]), own)).toBe(false);
  });
});

describe("DeploymentAuthorityService", () => {
  it("records one update plan per digest, accepts it and reconciles", async () => {
    const billing = presented(billingModule("v1"));
    const plan = service.plan("billing", billing.manifest).unwrap();
    expect(plan).toMatchObject({
      classification: "update",
      state: "pending",
      acknowledgementRequired: false,
    });
    expect(plan.desiredChange.added.surfaces).toEqual([
      { contractId: "acme.billing@v1", kind: "rpc", name: "Billing.Charge" },
    ]);
    expect(plan.desiredChange.added.capabilities).toEqual([]);
    expect(JSON.stringify(plan.materializationPreview)).toContain("rpc.v1.Billing.Charge");
    expect(service.plan("billing", billing.manifest).unwrap().planId).toBe(plan.planId);

    const before = store.authorities.get("billing")?.version;
    const accepted = (await service.accept(plan.planId, admin, { as: "update" })).unwrap();
    expect(accepted.authority.version).not.toBe(before);
    expect(accepted.plan).toMatchObject({ state: "accepted", decisionBy: admin });
    expect(store.authorities.isActive("billing", billing.digest)).toBe(true);
    expect(reconciled).toEqual(["billing"]);
    expect(dependents).toEqual(["acme.billing@v1"]);
    expect(service.assess("billing", billing.manifest, billing.digest).unwrap().kind).toBe("active");
    expect(service.plan("billing", billing.manifest).take()).toMatchObject({ reason: "authority_current" });
    expect((await service.accept(plan.planId, admin, { as: "update" })).take()).toMatchObject({
      reason: "plan_not_pending",
    });
  });

  it("classifies an additive digest as an update and a breaking one as a migration", async () => {
    const v1 = presented(billingModule("v1"));
    const first = service.plan("billing", v1.manifest).unwrap();
    (await service.accept(first.planId, admin, { as: "update" })).unwrap();

    const v2 = presented(billingModule("v2"));
    const update = service.plan("billing", v2.manifest).unwrap();
    expect(update.classification).toBe("update");

    const v3 = presented(billingModule("v3"));
    const migration = service.plan("billing", v3.manifest).unwrap();
    expect(migration).toMatchObject({ classification: "migration", acknowledgementRequired: true });
    expect(migration.warnings.join("\n")).toContain("Billing.Charge");
    expect(migration.desiredChange.removed.surfaces).toEqual([
      { contractId: "acme.billing@v1", kind: "rpc", name: "Billing.Charge" },
    ]);

    expect((await service.accept(migration.planId, admin, { as: "update" })).take()).toMatchObject({
      reason: "plan_is_migration",
    });
    expect(
      (await service.accept(migration.planId, admin, { as: "migration", acknowledgement: "  " })).take(),
    ).toMatchObject({ reason: "migration_requires_acknowledgement" });
    expect(
      (
        await service.accept(migration.planId, admin, {
          as: "migration",
          acknowledgement: "ok",
          expectedDesiredVersion: "01STALE",
        })
      ).take(),
    ).toMatchObject({ reason: "desired_version_conflict" });

    const instance = store.serviceInstances
      .provision({ deploymentId: "billing", instanceKey: "K".repeat(43) })
      .unwrap();
    store.offers.upsertAccepted({
      deploymentId: "billing",
      instanceId: instance.instanceId,
      contractId: "acme.billing@v1",
      contractDigest: v1.digest,
    });
    const accepted = (
      await service.accept(migration.planId, admin, {
        as: "migration",
        acknowledgement: "Charge moves to v3",
      })
    ).unwrap();
    expect(accepted.plan.decisionReason).toBe("Charge moves to v3");
    expect(accepted.authority.desiredState.surfaces).toEqual([
      { contractId: "acme.billing@v1", kind: "rpc", name: "Billing.Refund" },
    ]);
    expect(store.authorities.listActiveContracts("billing").map((c) => c.contractDigest)).toEqual([
      v3.digest,
    ]);
    expect(store.offers.list({ deploymentId: "billing" }).map((o) => o.status)).toEqual(["stale"]);
  });

  it("activates a compatible digest that already fits without a plan; a narrower one needs a migration", async () => {
    const v2 = presented(billingModule("v2"));
    (
      await service.accept(service.plan("billing", v2.manifest).unwrap().planId, admin, { as: "update" })
    ).unwrap();
    const v2b = presented(billingModule("v2b"));
    store.contracts.put(v2b.manifest);
    expect(service.assess("billing", v2b.manifest, v2b.digest).unwrap().kind).toBe("compatible");
    reconciled = [];
    now = new Date(T0.getTime() + 1000);
    await service.activateCompatible("billing", "acme.billing@v1", v2b.digest);
    expect(store.authorities.listActiveContracts("billing").map((c) => c.contractDigest)).toEqual([
      v2.digest,
      v2b.digest,
    ]);
    expect(reconciled).toEqual(["billing"]);
    // v1 lacks Billing.Refund: although the desired state allows all of v1, it breaks v2's callers.
    const v1 = presented(billingModule("v1"));
    store.contracts.put(v1.manifest);
    expect(service.assess("billing", v1.manifest, v1.digest).unwrap()).toMatchObject({
      kind: "plan",
      classification: "migration",
    });
  });

  it("refuses subject collisions naming the owner, and unknown deployments", async () => {
    const billing = presented(billingModule("v1"));
    (
      await service.accept(service.plan("billing", billing.manifest).unwrap().planId, admin, { as: "update" })
    ).unwrap();
    store.serviceDeployments.create({ deploymentId: "clash", namespaces: [] }).unwrap();
    const refused = service.plan("clash", clashModule().CONTRACT).take();
    expect(refused).toMatchObject({ reason: "contract_catalog_issue" });
    expect((refused as Error).message).toBe(
      "RPC subject 'rpc.v1.Billing.Charge' already owned by 'Billing (acme.billing@v1)'",
    );
    expect(service.plan("nowhere", billing.manifest).take()).toMatchObject({
      reason: "deployment_not_found",
    });
    // Disabled deployments leave the catalog: the subject is free again.
    store.serviceDeployments.setDisabled("billing", true).unwrap();
    expect(service.plan("clash", clashModule().CONTRACT).unwrap().classification).toBe("update");
  });

  it("reports dependencies: required blocks until active, optional is skipped", async () => {
    store.serviceDeployments.create({ deploymentId: "shop", namespaces: [] }).unwrap();
    const shop = presented(shopModule());
    store.contracts.put(shop.manifest);
    const before = service.assess("shop", shop.manifest, shop.digest).unwrap();
    expect(before.useIssues.map((i) => [i.required, i.message])).toEqual([
      [true, "Dependency 'billing' references unknown contract 'acme.billing@v1'"],
      [false, "Dependency 'ghost' references unknown contract 'acme.ghost@v1'"],
    ]);
    const billing = presented(billingModule("v1"));
    const plan = service.plan("billing", billing.manifest).unwrap();
    expect(service.assess("shop", shop.manifest, shop.digest).unwrap().useIssues[0]?.message).toBe(
      "Dependency 'billing' references inactive contract 'acme.billing@v1'",
    );
    (await service.accept(plan.planId, admin, { as: "update" })).unwrap();
    const after = service.assess("shop", shop.manifest, shop.digest).unwrap();
    expect(after.useIssues.filter((i) => i.required)).toEqual([]);
    expect(after.proposal.requestedNeeds.capabilities).toEqual([
      { capability: "acme.billing::charge", required: true },
    ]);
  });

  it("rejects pending plans once", () => {
    const plan = service.plan("billing", billingModule("v1").CONTRACT).unwrap();
    expect(service.reject(plan.planId, admin, "not now").unwrap()).toMatchObject({
      state: "rejected",
      decisionReason: "not now",
    });
    expect(service.reject(plan.planId, admin).take()).toMatchObject({ reason: "plan_not_pending" });
    expect(service.reject("missing", admin).take()).toMatchObject({ reason: "plan_not_found" });
    expect(store.authorities.get("billing")?.desiredState.surfaces).toEqual([]);
  });
});
