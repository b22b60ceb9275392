/**
 * Deployment authority on the real stack (`startPlatform()`: nats-server with the auth callout, the
 * control plane, SQLite, HTTP): `POST /bootstrap/service` in its decision order, and the admin's
 * `Auth.DeploymentAuthority.*` RPCs — plans, updates, acknowledged migrations, rejections,
 * `mutable-dev` auto-acceptance, subject collisions and dependencies.
 */
import type { ContractManifest } from "@trellis/contracts";
import type { BaseError, Result } from "@trellis/result";
import { AuthError, type TrellisClient, ValidationError } from "@trellis/runtime";
import { generateSessionSeed, natsConnectValue, sessionKeyFromSeed, signDomain } from "@trellis/runtime/auth";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trellisCli } from "../../cli/src/session/contract.js";
import { billingModule, clashModule, presented, shopModule } from "./support/authority-contracts.js";
import { signIn } from "./support/platform-sign-in.js";

let platform: PlatformHandle;
let admin: TrellisClient<typeof trellisCli>;

function ok<T>(result: Result<T, BaseError>): T {
  if (result.isErr()) throw new Error(`unexpected error: ${result.error.message}`);
  return result.value;
}

function expectAuthError(result: Result<unknown, BaseError>, reason: string): void {
  expect(result.isErr(), `expected AuthError(${reason})`).toBe(true);
  if (!result.isErr()) return;
  expect(result.error).toBeInstanceOf(AuthError);
  if (result.error instanceof AuthError) expect(result.error.reason).toBe(reason);
}

/** A service instance's key pair. */
function newInstance(): { seed: string; key: string } {
  const seed = generateSessionSeed();
  return { seed, key: sessionKeyFromSeed(seed) };
}

interface BootstrapAnswer {
  status: number;
  retryAfter: string | null;
  body: Record<string, any>;
}

/** `POST /bootstrap/service` for `module`, signed by `seed` (the manifest is sent unless `withContract` is false). */
async function bootstrap(
  seed: string,
  module: { CONTRACT: ContractManifest },
  options: { withContract?: boolean; iat?: number; contract?: unknown; digest?: string } = {},
): Promise<BootstrapAnswer> {
  const { manifest, digest: realDigest } = presented(module);
  const digest = options.digest ?? realDigest;
  const iat = options.iat ?? Math.floor(Date.now() / 1000);
  const response = await fetch(`${platform.url}/bootstrap/service`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      sessionKey: sessionKeyFromSeed(seed),
      contractId: manifest.id,
      contractDigest: digest,
      ...(options.withContract !== false && { contract: options.contract ?? manifest }),
      iat,
      sig: signDomain(seed, "nats-connect", natsConnectValue(iat, digest)),
    }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: (await response.json()) as Record<string, any>,
  };
}

async function deployment(deploymentId: string, mode: "strict" | "mutable-dev" = "strict") {
  ok(
    await admin.rpc.auth.deploymentsCreate({
      kind: "service",
      deploymentId,
      namespaces: [deploymentId],
      contractCompatibilityMode: mode,
    }),
  );
}

async function provision(deploymentId: string) {
  const instance = newInstance();
  const provisioned = ok(
    await admin.rpc.auth.serviceInstancesProvision({ deploymentId, instanceKey: instance.key }),
  );
  return { ...instance, instanceId: provisioned.instance.instanceId };
}

beforeAll(async () => {
  platform = await startPlatform();
  const credentials = platform.admin;
  if (!credentials) throw new Error("no dev admin");
  admin = await signIn(platform, trellisCli, credentials.username, credentials.password);
}, 60_000);

afterAll(async () => {
  await admin?.nc.close().catch(() => undefined);
  await platform?.stop();
});

describe("POST /bootstrap/service", () => {
  it("refuses bad bodies, stale iat and bad signatures with 400", async () => {
    const { seed } = newInstance();
    const stale = await bootstrap(seed, billingModule("v1"), { iat: Math.floor(Date.now() / 1000) - 120 });
    expect(stale.status).toBe(400);
    expect(stale.body).toMatchObject({ reason: "iat_out_of_range", serverNow: expect.any(Number) });

    const other = newInstance();
    const { digest } = presented(billingModule("v1"));
    const iat = Math.floor(Date.now() / 1000);
    const forged = await fetch(`${platform.url}/bootstrap/service`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        sessionKey: sessionKeyFromSeed(seed),
        contractId: "acme.billing@v1",
        contractDigest: digest,
        iat,
        sig: signDomain(other.seed, "nats-connect", natsConnectValue(iat, digest)),
      }),
    });
    expect(forged.status).toBe(400);
    expect(await forged.json()).toMatchObject({ reason: "invalid_signature" });

    const malformed = await fetch(`${platform.url}/bootstrap/service`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sessionKey: "short" }),
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ reason: "invalid_request", field: "sessionKey" });
  });

  it("answers 404 before provisioning and 403 while the instance or its deployment is disabled", async () => {
    const unknown = await bootstrap(newInstance().seed, billingModule("v1"));
    expect(unknown.status).toBe(404);
    expect(unknown.body.reason).toBe("unknown_service");

    await deployment("gate");
    const instance = await provision("gate");
    ok(await admin.rpc.auth.serviceInstancesDisable({ instanceId: instance.instanceId }));
    const disabled = await bootstrap(instance.seed, billingModule("v1"));
    expect(disabled.status).toBe(403);
    expect(disabled.body.reason).toBe("service_disabled");
    ok(await admin.rpc.auth.serviceInstancesEnable({ instanceId: instance.instanceId }));

    ok(await admin.rpc.auth.deploymentsDisable({ kind: "service", deploymentId: "gate" }));
    const deploymentOff = await bootstrap(instance.seed, billingModule("v1"));
    expect(deploymentOff.status).toBe(403);
    expect(deploymentOff.body).toMatchObject({ reason: "service_deployment_disabled", deploymentId: "gate" });
    ok(await admin.rpc.auth.deploymentsEnable({ kind: "service", deploymentId: "gate" }));
  });

  it("answers 409 for an unknown digest without manifest, a digest mismatch and an invalid manifest", async () => {
    const instance = await provision("gate");
    const required = await bootstrap(instance.seed, billingModule("v1"), { withContract: false });
    expect(required.status).toBe(409);
    expect(required.body.reason).toBe("manifest_required");

    const mismatch = await bootstrap(instance.seed, billingModule("v1"), {
      contract: billingModule("v2").CONTRACT,
    });
    expect(mismatch.status).toBe(409);
    expect(mismatch.body.reason).toBe("presented_contract_digest_mismatch");
    expect(mismatch.body.message).toContain(presented(billingModule("v2")).digest);

    const invalid = await bootstrap(instance.seed, billingModule("v1"), {
      contract: { ...billingModule("v1").CONTRACT, rpc: { "Billing.Charge": { version: "v1" } } },
    });
    expect(invalid.status).toBe(409);
    expect(invalid.body.reason).toBe("presented_contract_invalid");
    expect(invalid.body.message).toContain("/rpc/Billing.Charge");

    const wrongKind = await bootstrap(instance.seed, trellisCli);
    expect(wrongKind.status).toBe(409);
    expect(wrongKind.body).toMatchObject({
      reason: "presented_contract_invalid",
      message: "service contract install requires kind 'service', got 'agent'",
    });
  });
});

describe("deployment authority decisions", () => {
  let shop: { seed: string; instanceId: string };
  let billing: { seed: string; instanceId: string };

  it("keeps a service with an inactive required dependency waiting (202 contract_activation_pending)", async () => {
    await deployment("shop");
    shop = await provision("shop");
    const waiting = await bootstrap(shop.seed, shopModule());
    expect(waiting.status).toBe(202);
    expect(waiting.retryAfter).toMatch(/^\d+$/);
    expect(waiting.body).toMatchObject({
      reason: "contract_activation_pending",
      message: "Dependency 'billing' references unknown contract 'acme.billing@v1'",
      dependencies: [{ alias: "billing", contractId: "acme.billing@v1", reason: "unknown" }],
    });
  });

  it("strict: records one update plan, waits (202) until AcceptUpdate, then answers 200 ready", async () => {
    await deployment("billing");
    billing = await provision("billing");
    const first = await bootstrap(billing.seed, billingModule("v1"));
    expect(first.status).toBe(202);
    expect(Number(first.retryAfter)).toBeGreaterThan(0);
    expect(first.body).toMatchObject({ reason: "authority_update_required", classification: "update" });
    expect(first.body.desiredChange.added.surfaces).toEqual([
      { contractId: "acme.billing@v1", kind: "rpc", name: "Billing.Charge" },
    ]);
    const planId: string = first.body.planId;
    const again = await bootstrap(billing.seed, billingModule("v1"), { withContract: false });
    expect(again.body.planId).toBe(planId);

    const pending = ok(
      await admin.rpc.auth.deploymentAuthorityPlansList({
        limit: 10,
        deploymentId: "billing",
        state: "pending",
      }),
    );
    expect(pending.entries.map((plan) => plan.planId)).toEqual([planId]);
    const plan = ok(await admin.rpc.auth.deploymentAuthorityPlansGet({ planId })).plan;
    expect(plan).toMatchObject({ classification: "update", state: "pending", deploymentId: "billing" });
    expect(plan.proposal.requestedNeeds.resources).toEqual([
      expect.objectContaining({ kind: "kv", alias: "cache", required: true }),
    ]);
    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityPlansGet({ planId: "missing" }),
      "plan_not_found",
    );

    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityAcceptUpdate({
        planId,
        expectedDesiredVersion: "01STALEVERSION",
      }),
      "desired_version_conflict",
    );
    const before = ok(await admin.rpc.auth.deploymentAuthorityGet({ deploymentId: "billing" })).authority;
    const accepted = ok(
      await admin.rpc.auth.deploymentAuthorityAcceptUpdate({
        planId,
        expectedDesiredVersion: before.version,
      }),
    );
    expect(accepted.authority.version).not.toBe(before.version);
    expect(accepted.authority.desiredState.surfaces).toEqual([
      { contractId: "acme.billing@v1", kind: "rpc", name: "Billing.Charge" },
    ]);
    expectAuthError(await admin.rpc.auth.deploymentAuthorityAcceptUpdate({ planId }), "plan_not_pending");

    const ready = await bootstrap(billing.seed, billingModule("v1"), { withContract: false });
    expect(ready.status).toBe(200);
    const { digest } = presented(billingModule("v1"));
    expect(ready.body).toMatchObject({
      status: "ready",
      serverNow: expect.any(Number),
      connectInfo: {
        sessionKey: sessionKeyFromSeed(billing.seed),
        contractId: "acme.billing@v1",
        contractDigest: digest,
        transports: { native: { natsServers: [platform.natsUrl] } },
        transport: { sentinel: { jwt: expect.any(String), seed: expect.any(String) } },
        auth: { mode: "service_identity", iatSkewSeconds: 30 },
      },
      contract: { id: "acme.billing@v1", digest, displayName: "Billing", resources: { kv: { cache: {} } } },
      binding: { contractId: "acme.billing@v1", digest },
    });
    expect(ready.body.binding.resources.kv.cache).toMatchObject({ bucket: expect.any(String), history: 2 });

    const got = ok(await admin.rpc.auth.deploymentAuthorityGet({ deploymentId: "billing" }));
    expect(got.materializedAuthority).toMatchObject({
      status: "current",
      desiredVersion: accepted.authority.version,
    });
    expect(got.materializedAuthority?.grants.nats.map((g) => g.subject)).toContain("rpc.v1.Billing.Charge");
    expect(got.materializedAuthority?.resourceBindings.map((b) => [b.kind, b.alias])).toEqual([
      ["kv", "cache"],
    ]);
    const offers = platform.controlPlane.context.store.offers.list({ instanceId: billing.instanceId });
    expect(offers.map((o) => [o.contractDigest, o.status])).toEqual([[digest, "accepted"]]);
  });

  it("refuses a contract whose subject another contract owns (409 contract_catalog_issue)", async () => {
    await deployment("clash");
    const instance = await provision("clash");
    const refused = await bootstrap(instance.seed, clashModule());
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      reason: "contract_catalog_issue",
      message: "RPC subject 'rpc.v1.Billing.Charge' already owned by 'Billing (acme.billing@v1)'",
    });
    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityPlan({
        deploymentId: "clash",
        contract: clashModule().CONTRACT,
        expectedDigest: presented(clashModule()).digest,
      }),
      "contract_catalog_issue",
    );
  });

  it("a required dependency resolves once its contract is active", async () => {
    const planned = await bootstrap(shop.seed, shopModule());
    expect(planned.status).toBe(202);
    expect(planned.body.reason).toBe("authority_update_required");
    expect(planned.body.desiredChange.added.capabilities).toEqual(["acme.billing::charge"]);
    ok(await admin.rpc.auth.deploymentAuthorityAcceptUpdate({ planId: planned.body.planId }));
    const ready = await bootstrap(shop.seed, shopModule(), { withContract: false });
    expect(ready.status).toBe(200);
    const got = ok(await admin.rpc.auth.deploymentAuthorityGet({ deploymentId: "shop" }));
    expect(got.materializedAuthority?.grants.nats).toContainEqual(
      expect.objectContaining({
        direction: "publish",
        subject: "rpc.v1.Billing.Charge",
        grantSource: "used-surface",
        requiredCapabilities: ["acme.billing::charge"],
      }),
    );
  });

  it("strict: a breaking digest waits for AcceptMigration with an acknowledgement", async () => {
    const migrating = await bootstrap(billing.seed, billingModule("v3"));
    expect(migrating.status).toBe(202);
    expect(migrating.body).toMatchObject({
      reason: "authority_migration_required",
      classification: "migration",
    });
    const planId: string = migrating.body.planId;
    const plan = ok(await admin.rpc.auth.deploymentAuthorityPlansGet({ planId })).plan;
    expect(plan).toMatchObject({ classification: "migration", acknowledgementRequired: true });
    expect(plan.warnings.join("\n")).toContain("Billing.Charge");

    expectAuthError(await admin.rpc.auth.deploymentAuthorityAcceptUpdate({ planId }), "plan_is_migration");
    const blank = await admin.rpc.auth.deploymentAuthorityAcceptMigration({ planId, acknowledgement: "   " });
    expect(blank.isErr() && blank.error instanceof ValidationError).toBe(true);
    const still = await bootstrap(billing.seed, billingModule("v3"), { withContract: false });
    expect(still.body).toMatchObject({ reason: "authority_migration_required", planId });

    ok(
      await admin.rpc.auth.deploymentAuthorityAcceptMigration({
        planId,
        acknowledgement: "Charging moves to Billing.Refund",
      }),
    );
    const decided = ok(await admin.rpc.auth.deploymentAuthorityPlansGet({ planId })).plan;
    expect(decided).toMatchObject({
      state: "accepted",
      decisionReason: "Charging moves to Billing.Refund",
      decisionBy: { kind: "user" },
    });
    const ready = await bootstrap(billing.seed, billingModule("v3"), { withContract: false });
    expect(ready.status).toBe(200);
    const offers = platform.controlPlane.context.store.offers.list({ instanceId: billing.instanceId });
    expect(offers.map((o) => o.status).sort()).toEqual(["accepted", "stale"]);
  });

  it("mutable-dev: plans are accepted at once, decided by the system", async () => {
    await deployment("sandbox", "mutable-dev");
    const instance = await provision("sandbox");
    const ready = await bootstrap(instance.seed, billingModule("v1"));
    expect(ready.status).toBe(200);
    const changed = await bootstrap(instance.seed, billingModule("v3"));
    expect(changed.status).toBe(200);
    const plans = ok(
      await admin.rpc.auth.deploymentAuthorityPlansList({ limit: 10, deploymentId: "sandbox" }),
    );
    expect(plans.entries.map((plan) => [plan.classification, plan.state])).toEqual([
      ["migration", "accepted"],
      ["update", "accepted"],
    ]);
    for (const plan of plans.entries) {
      expect(plan.decisionBy).toEqual({
        kind: "system",
        mode: "mutable-dev",
        serviceInstanceId: instance.instanceId,
      });
    }
  });

  it("plans from the admin side, rejects, lists and reconciles", async () => {
    await deployment("planned");
    const v2 = presented(billingModule("v2"));
    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityPlan({
        deploymentId: "planned",
        contract: v2.manifest,
        expectedDigest: presented(billingModule("v1")).digest,
      }),
      "presented_contract_digest_mismatch",
    );
    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityPlan({
        deploymentId: "nowhere",
        contract: v2.manifest,
        expectedDigest: v2.digest,
      }),
      "deployment_not_found",
    );
    const { plan } = ok(
      await admin.rpc.auth.deploymentAuthorityPlan({
        deploymentId: "planned",
        contract: v2.manifest,
        expectedDigest: v2.digest,
      }),
    );
    expect(plan).toMatchObject({ classification: "update", state: "pending" });
    expect(
      ok(await admin.rpc.auth.deploymentAuthorityReject({ planId: plan.planId, reason: "not yet" })),
    ).toEqual({
      success: true,
    });
    expect(ok(await admin.rpc.auth.deploymentAuthorityPlansGet({ planId: plan.planId })).plan).toMatchObject({
      state: "rejected",
      decisionReason: "not yet",
    });
    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityReject({ planId: plan.planId }),
      "plan_not_pending",
    );
    expect(
      ok(await admin.rpc.auth.deploymentAuthorityPlansList({ limit: 10, state: "rejected" })).entries.map(
        (p) => p.planId,
      ),
    ).toEqual([plan.planId]);
    const authority = ok(await admin.rpc.auth.deploymentAuthorityGet({ deploymentId: "planned" })).authority;
    expect(authority.desiredState.surfaces).toEqual([]);

    const listed = ok(await admin.rpc.auth.deploymentAuthorityList({ limit: 100 }));
    expect(listed.entries.map((a) => a.deploymentId)).toEqual(
      expect.arrayContaining(["gate", "shop", "billing", "sandbox", "clash", "planned"]),
    );
    expect(ok(await admin.rpc.auth.deploymentAuthorityList({ limit: 100, kind: "device" })).count).toBe(0);

    const reconciled = ok(await admin.rpc.auth.deploymentAuthorityReconcile({ deploymentId: "billing" }));
    expect(reconciled.materializedAuthority).toMatchObject({
      status: "current",
      desiredVersion: reconciled.authority.version,
    });
    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityReconcile({ deploymentId: "billing", desiredVersion: "01OLD" }),
      "desired_version_conflict",
    );
    expectAuthError(
      await admin.rpc.auth.deploymentAuthorityGet({ deploymentId: "nowhere" }),
      "deployment_not_found",
    );
  });
});
