import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashAccountFlowId } from "../store/account-flows-repository.js";
import { type ControlPlaneStore, openStore } from "../store/store.js";
import {
  ADMIN_BOOTSTRAP_TTL_MS,
  completeAdminBootstrap,
  completeLocalPasswordReset,
  ensureAdminBootstrap,
  ensureDevAdmin,
  hasActiveAdmin,
} from "./bootstrap.js";
import { userCapabilities } from "./capabilities.js";
import { createLocalUser } from "./local-accounts.js";
import { localLogin } from "./passwords.js";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const ORIGIN = "https://trellis.example.com/";
const PASSWORD = "a very good admin password";

let dir: string;
let store: ControlPlaneStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-bootstrap-"));
  store = openStore(join(dir, "trellis.sqlite"), { clock: () => T0 });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function bootstrap() {
  const status = ensureAdminBootstrap(store, { publicOrigin: ORIGIN, now: T0 });
  if (status.status !== "bootstrap_required") throw new Error(`unexpected ${status.status}`);
  return status;
}

describe("admin bootstrap", () => {
  it("creates an inactive local admin and a 24 h flow whose hash alone is stored", () => {
    expect(hasActiveAdmin(store)).toBe(false);
    const status = bootstrap();
    expect(status.flowId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(status.url).toBe(
      `https://trellis.example.com/_trellis/portal/account/password?flowId=${status.flowId}`,
    );
    expect(status.expiresAt).toBe(new Date(T0.getTime() + ADMIN_BOOTSTRAP_TTL_MS).toISOString());

    const admin = store.users.get(status.userId);
    expect(admin).toMatchObject({ name: "admin", active: false, capabilityGroups: ["admin"] });
    expect(store.identities.findLocal("admin")?.userId).toBe(status.userId);
    const flow = store.accountFlows.findByFlowId(status.flowId);
    expect(flow).toMatchObject({
      kind: "local_password_reset",
      targetUserId: status.userId,
      targetLocalUsername: "admin",
      flowIdHash: hashAccountFlowId(status.flowId),
    });
    expect(JSON.stringify(store.db.prepare("SELECT * FROM account_flows").all())).not.toContain(
      status.flowId,
    );
  });

  it("creates the admin once; a new call replaces the earlier flow", () => {
    const first = bootstrap();
    const second = bootstrap();
    expect(second.userId).toBe(first.userId);
    expect(second.flowId).not.toBe(first.flowId);
    expect(store.users.list().count).toBe(1);
    expect(store.accountFlows.findByFlowId(first.flowId)).toBeUndefined();
    expect(store.db.prepare("SELECT COUNT(*) AS n FROM account_flows").get()).toEqual({ n: 1 });
  });

  it("completes once: sets the password, activates the admin, and refuses a second use", async () => {
    const status = bootstrap();
    expect((await completeAdminBootstrap(store, status.flowId, "too short")).take()).toMatchObject({
      reason: "password_too_short",
    });
    // A refused password does not spend the flow.
    const admin = (await completeAdminBootstrap(store, status.flowId, PASSWORD)).unwrap();
    expect(admin).toMatchObject({ userId: status.userId, active: true });
    expect(userCapabilities(store, admin)).toContain("admin");
    expect(hasActiveAdmin(store)).toBe(true);
    expect((await localLogin(store, "admin", PASSWORD, T0)).unwrap().userId).toBe(status.userId);

    expect(
      (await completeAdminBootstrap(store, status.flowId, "another good password")).take(),
    ).toMatchObject({
      reason: "flow_consumed",
    });
    expect((await localLogin(store, "admin", PASSWORD, T0)).ok).toBe(true);
    expect(ensureAdminBootstrap(store, { publicOrigin: ORIGIN })).toEqual({ status: "admin_present" });
  });

  it("refuses expired, unknown and non-bootstrap flows", async () => {
    const status = bootstrap();
    const late = new Date(T0.getTime() + ADMIN_BOOTSTRAP_TTL_MS);
    expect(
      (await completeAdminBootstrap(store, status.flowId, PASSWORD, { now: late })).take(),
    ).toMatchObject({
      reason: "flow_expired",
    });
    expect((await completeAdminBootstrap(store, "unknown", PASSWORD)).take()).toMatchObject({
      reason: "flow_not_found",
    });

    const ada = (await createLocalUser(store, { username: "ada", password: PASSWORD })).unwrap();
    const { flowId } = store.accountFlows.create({
      kind: "local_password_reset",
      ttlMs: 60_000,
      targetUserId: ada.userId,
      targetLocalUsername: "ada",
      createdByUserId: status.userId,
    });
    expect((await completeAdminBootstrap(store, flowId, "new password for ada")).take()).toMatchObject({
      reason: "flow_not_found",
    });
    // The general path accepts it and does not grant admin.
    const reset = (await completeLocalPasswordReset(store, flowId, "new password for ada")).unwrap();
    expect(userCapabilities(store, reset)).toEqual([]);
    expect((await localLogin(store, "ada", "new password for ada", T0)).ok).toBe(true);
    expect((await completeLocalPasswordReset(store, flowId, "newer password for ada")).take()).toMatchObject({
      reason: "flow_consumed",
    });
  });

  it("hands out the flow only once under concurrent completion", async () => {
    const status = bootstrap();
    const results = await Promise.all([
      completeAdminBootstrap(store, status.flowId, PASSWORD),
      completeAdminBootstrap(store, status.flowId, "a competing admin password"),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => r.take())).toMatchObject([{ reason: "flow_consumed" }]);
  });
});

describe("ensureDevAdmin", () => {
  it("creates an active local admin, then updates it", async () => {
    const created = (await ensureDevAdmin(store, { username: "dev", password: PASSWORD })).unwrap();
    expect(created).toMatchObject({ name: "dev", active: true, capabilityGroups: ["admin"] });
    expect(hasActiveAdmin(store)).toBe(true);
    expect((await localLogin(store, "dev", PASSWORD, T0)).ok).toBe(true);
    expect(ensureAdminBootstrap(store, { publicOrigin: ORIGIN })).toEqual({ status: "admin_present" });

    // Deactivated and demoted behind its back: ensureDevAdmin restores it with the new password.
    store.users.update(created.userId, { active: false, capabilityGroups: ["ops"] }).unwrap();
    const again = (
      await ensureDevAdmin(store, { username: "dev", password: "the new dev password" })
    ).unwrap();
    expect(again).toMatchObject({ userId: created.userId, active: true, capabilityGroups: ["admin", "ops"] });
    expect((await localLogin(store, "dev", PASSWORD, T0)).ok).toBe(false);
    expect((await localLogin(store, "dev", "the new dev password", T0)).ok).toBe(true);
    expect(store.users.list().count).toBe(1);
  });

  it("applies the password policy", async () => {
    expect((await ensureDevAdmin(store, { username: "dev", password: "short" })).take()).toMatchObject({
      reason: "password_too_short",
    });
    expect(store.users.list().count).toBe(0);
  });
});
