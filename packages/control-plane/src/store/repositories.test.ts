import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ContractManifest, digestContractManifest } from "@trellis/contracts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashAccountFlowId } from "./account-flows-repository.js";
import { ADMIN_GROUP_CAPABILITIES } from "./capability-groups-repository.js";
import { base64url } from "./codec.js";
import { identityIdFor } from "./identities-repository.js";
import {
  type ContractApproval,
  canonicalIdentityAnchor,
  identityGrantIdFor,
  type UpsertIdentityGrantInput,
} from "./identity-grants-repository.js";
import { SESSION_TTL_MS, type SessionInput } from "./sessions-repository.js";
import { type ControlPlaneStore, openStore } from "./store.js";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

let dir: string;
let store: ControlPlaneStore;
let now: Date;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-store-"));
  now = T0;
  store = openStore(join(dir, "trellis.sqlite"), { clock: () => now });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function makeUser(name = "Ada", email: string | null = "ada@example.com") {
  return store.users.create({ name, email }).unwrap();
}

describe("UsersRepository", () => {
  it("creates, reads, updates and pages users", () => {
    const ada = store.users
      .create({
        name: "Ada",
        email: "Ada@Example.com",
        capabilities: ["b", "a", "a"],
        capabilityGroups: ["ops"],
      })
      .unwrap();
    expect(ada.userId).toMatch(/^usr_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(ada).toMatchObject({ active: true, capabilities: ["a", "b"], capabilityGroups: ["ops"] });
    expect(store.users.get(ada.userId)).toEqual(ada);
    expect(store.users.getByEmail("ada@example.COM")?.userId).toBe(ada.userId);
    expect(store.users.get("usr_missing")).toBeUndefined();

    now = at(1000);
    const updated = store.users
      .update(ada.userId, { name: "Ada L.", email: null, capabilities: [] })
      .unwrap();
    expect(updated).toMatchObject({
      name: "Ada L.",
      email: null,
      capabilities: [],
      capabilityGroups: ["ops"],
    });
    expect(updated.updatedAt).toBe(at(1000).toISOString());
    expect(updated.createdAt).toBe(T0.toISOString());
    expect(store.users.get(ada.userId)).toEqual(updated);

    const inactive = store.users.setActive(ada.userId, false).unwrap();
    expect(inactive.active).toBe(false);
    expect(store.users.update("usr_missing", { name: "x" }).take()).toMatchObject({
      reason: "user_not_found",
    });

    for (let i = 0; i < 4; i++) {
      now = at(2000 + i);
      makeUser(`u${i}`, null);
    }
    const first = store.users.list({ offset: 0, limit: 2 });
    expect(first).toMatchObject({ count: 5, offset: 0, limit: 2, nextOffset: 2 });
    expect(first.entries.map((u) => u.name)).toEqual(["Ada L.", "u0"]);
    const last = store.users.list({ offset: 4, limit: 2 });
    expect(last.entries.map((u) => u.name)).toEqual(["u3"]);
    expect(last.nextOffset).toBeUndefined();
    expect(store.users.list({}, { active: false }).entries.map((u) => u.name)).toEqual(["Ada L."]);
    expect(store.users.listActive()).toHaveLength(4);
    expect(store.users.list({ limit: 10_000 }).limit).toBe(500);
  });

  it("refuses a duplicate user id", () => {
    const ada = makeUser();
    expect(store.users.create({ userId: ada.userId, name: "Again" }).take()).toMatchObject({
      reason: "user_already_exists",
    });
  });
});

describe("IdentitiesRepository", () => {
  it("derives identity ids and links, finds and unlinks identities", () => {
    const ada = makeUser();
    expect(identityIdFor("github", "42")).toBe(`idn_${Buffer.from("github:42").toString("base64url")}`);
    expect(identityIdFor("local", "ada")).toBe("idn_bG9jYWw6YWRh");

    const github = store.identities
      .link({
        userId: ada.userId,
        provider: "github",
        subject: "42",
        email: "ada@example.com",
        emailVerified: true,
      })
      .unwrap();
    expect(github).toMatchObject({
      identityId: identityIdFor("github", "42"),
      emailVerified: true,
      lastLoginAt: null,
    });
    const local = store.identities.link({ userId: ada.userId, provider: "local", subject: "ada" }).unwrap();
    expect(store.identities.find("github", "42")).toEqual(github);
    expect(store.identities.findLocal("ada")).toEqual(local);
    expect(store.identities.findLocalByUser(ada.userId)).toEqual(local);
    expect(store.identities.listByUser(ada.userId)).toHaveLength(2);

    // (provider, subject) is unique across accounts, and one local identity per account.
    const bob = makeUser("Bob", null);
    expect(
      store.identities.link({ userId: bob.userId, provider: "github", subject: "42" }).take(),
    ).toMatchObject({
      reason: "identity_already_linked",
    });
    expect(
      store.identities.link({ userId: ada.userId, provider: "local", subject: "ada2" }).take(),
    ).toMatchObject({
      reason: "identity_already_linked",
    });

    now = at(5000);
    expect(store.identities.recordLogin(github.identityId)).toBe(true);
    expect(store.identities.get(github.identityId)?.lastLoginAt).toBe(at(5000).toISOString());
    expect(store.identities.updateProfile(github.identityId, { displayName: "Ada" })).toBe(true);
    expect(store.identities.get(github.identityId)).toMatchObject({
      displayName: "Ada",
      email: "ada@example.com",
    });
    expect(store.identities.unlink(github.identityId)).toBe(true);
    expect(store.identities.get(github.identityId)).toBeUndefined();
    expect(store.identities.unlink(github.identityId)).toBe(false);
  });

  it("refuses to link an identity to an unknown user (foreign key)", () => {
    expect(() => store.identities.link({ userId: "usr_nobody", provider: "local", subject: "x" })).toThrow(
      /FOREIGN KEY/,
    );
  });
});

describe("LocalCredentialsRepository", () => {
  const hash = {
    algorithm: "scrypt" as const,
    hash: base64url("k".repeat(32)),
    params: { v: 1 as const, salt: base64url("s".repeat(16)), N: 16384, r: 8, p: 1, keyLength: 32 },
  };

  it("stores scrypt credentials and counts failures into a lock", () => {
    const ada = makeUser();
    const identity = store.identities
      .link({ userId: ada.userId, provider: "local", subject: "ada" })
      .unwrap();
    store.localCredentials.setPassword(identity.identityId, hash, { mustChangePassword: true });
    expect(store.localCredentials.get(identity.identityId)).toEqual({
      identityId: identity.identityId,
      password: hash,
      passwordSetAt: T0.toISOString(),
      mustChangePassword: true,
      failedLoginCount: 0,
      lockedUntil: null,
    });
    const raw = store.db
      .prepare<[string], { password_algorithm: string; password_params: string }>(
        "SELECT password_algorithm, password_params FROM local_credentials WHERE identity_id = ?",
      )
      .get(identity.identityId);
    expect(raw?.password_algorithm).toBe("scrypt");
    expect(JSON.parse(raw?.password_params ?? "null")).toEqual(hash.params);

    for (let i = 1; i <= 4; i++) {
      expect(store.localCredentials.recordFailure(identity.identityId)).toMatchObject({
        failedLoginCount: i,
        lockedUntil: null,
      });
    }
    expect(store.localCredentials.recordFailure(identity.identityId)?.lockedUntil).toBe(
      at(15 * 60 * 1000).toISOString(),
    );
    store.localCredentials.recordSuccess(identity.identityId);
    expect(store.localCredentials.get(identity.identityId)).toMatchObject({
      failedLoginCount: 0,
      lockedUntil: null,
    });

    // Replacing the password clears the counter; deleting the identity deletes the credential.
    store.localCredentials.recordFailure(identity.identityId);
    store.localCredentials.setPassword(identity.identityId, hash);
    expect(store.localCredentials.get(identity.identityId)).toMatchObject({
      failedLoginCount: 0,
      mustChangePassword: false,
    });
    store.identities.unlink(identity.identityId);
    expect(store.localCredentials.get(identity.identityId)).toBeUndefined();
  });
});

describe("AccountFlowsRepository", () => {
  it("stores only the hash of the flow id and consumes a flow once", () => {
    const ada = makeUser();
    const { flowId, flow } = store.accountFlows.create({
      kind: "identity_link",
      ttlMs: 60_000,
      targetUserId: ada.userId,
      createdByUserId: ada.userId,
      allowedProviders: ["github"],
      profileHint: { name: "Ada" },
      returnTo: "/done",
    });
    expect(flowId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(flow.flowIdHash).toBe(hashAccountFlowId(flowId));
    const stored = store.db.prepare("SELECT * FROM account_flows").all();
    expect(JSON.stringify(stored)).not.toContain(flowId);

    expect(store.accountFlows.findByFlowId(flowId)).toEqual(flow);
    expect(store.accountFlows.findByFlowId("nope")).toBeUndefined();
    expect(store.accountFlows.getUsable(flowId).unwrap()).toEqual(flow);

    now = at(1000);
    const consumed = store.accountFlows.consume(flowId).unwrap();
    expect(consumed.consumedAt).toBe(at(1000).toISOString());
    expect(store.accountFlows.consume(flowId).take()).toMatchObject({ reason: "flow_consumed" });
    expect(store.accountFlows.getUsable(flowId).take()).toMatchObject({ reason: "flow_consumed" });
    expect(store.accountFlows.consume("nope").take()).toMatchObject({ reason: "flow_not_found" });
  });

  it("refuses expired flows", () => {
    const { flowId } = store.accountFlows.create({ kind: "local_password_reset", ttlMs: 60_000 });
    now = at(60_000);
    expect(store.accountFlows.getUsable(flowId).take()).toMatchObject({ reason: "flow_expired" });
    expect(store.accountFlows.consume(flowId).take()).toMatchObject({ reason: "flow_expired" });
    expect(store.accountFlows.purgeFinished()).toBe(1);
    expect(store.accountFlows.findByFlowId(flowId)).toBeUndefined();
  });
});

describe("CapabilityGroupsRepository", () => {
  it("puts, lists and deletes groups; the built-in admin group is read-only", () => {
    const ops = store.capabilityGroups
      .put({ groupKey: "ops", displayName: "Ops", capabilities: ["b", "a"], includedGroups: ["viewers"] })
      .unwrap();
    expect(ops).toMatchObject({ capabilities: ["a", "b"], includedGroups: ["viewers"], builtIn: false });
    expect(store.capabilityGroups.get("ops")).toEqual(ops);

    now = at(1000);
    const changed = store.capabilityGroups.put({ groupKey: "ops", displayName: "Operators" }).unwrap();
    expect(changed).toMatchObject({
      displayName: "Operators",
      capabilities: [],
      createdAt: T0.toISOString(),
    });

    const admin = store.capabilityGroups.get("admin");
    expect(admin?.builtIn).toBe(true);
    expect(admin?.capabilities).toEqual([...ADMIN_GROUP_CAPABILITIES].sort());
    expect(store.capabilityGroups.list().map((g) => g.groupKey)).toEqual(["admin", "ops"]);
    expect(store.capabilityGroups.put({ groupKey: "admin", displayName: "x" }).take()).toMatchObject({
      reason: "capability_group_read_only",
    });
    expect(store.capabilityGroups.delete("admin").take()).toMatchObject({
      reason: "capability_group_read_only",
    });
    expect(store.capabilityGroups.delete("ops").ok).toBe(true);
    expect(store.capabilityGroups.delete("ops").take()).toMatchObject({
      reason: "capability_group_not_found",
    });
  });
});

describe("IdentityGrantsRepository", () => {
  const approval: ContractApproval = {
    contractDigest: "d1",
    contractId: "acme.app@v1",
    displayName: "Acme",
    description: "Acme app",
    participantKind: "app",
    capabilities: { "acme.core::read": { displayName: "Read", description: "Read things" } },
  };

  function grantInput(
    userId: string,
    overrides: Partial<UpsertIdentityGrantInput> = {},
  ): UpsertIdentityGrantInput {
    return {
      userId,
      origin: "github",
      externalId: "42",
      anchor: { kind: "web", contractId: "acme.app@v1", origin: "https://app.example.com" },
      contractDigest: "d1",
      contractId: "acme.app@v1",
      participantKind: "app",
      approval,
      publishSubjects: ["rpc.v1.B", "rpc.v1.A"],
      subscribeSubjects: ["events.v1.X"],
      ...overrides,
    };
  }

  it("derives the grant id byte-exactly from user and anchor", () => {
    const anchor = { sessionPublicKey: "K", contractId: "c@v1", kind: "cli" as const };
    expect(JSON.stringify(canonicalIdentityAnchor(anchor))).toBe(
      '{"kind":"cli","contractId":"c@v1","sessionPublicKey":"K"}',
    );
    expect(identityGrantIdFor("usr_1", anchor)).toBe(
      Buffer.from('usr_1:{"kind":"cli","contractId":"c@v1","sessionPublicKey":"K"}').toString("base64url"),
    );
  });

  it("upserts one grant per (user, anchor) and revokes it with its sessions", () => {
    const ada = makeUser();
    const first = store.identityGrants.upsert(grantInput(ada.userId));
    expect(first).toMatchObject({
      identityGrantId: identityGrantIdFor(ada.userId, grantInput(ada.userId).anchor),
      identityAuthorityId: `${ada.userId}:github:42`,
      answer: "approved",
      capabilities: ["acme.core::read"],
      publishSubjects: ["rpc.v1.A", "rpc.v1.B"],
    });

    now = at(1000);
    const second = store.identityGrants.upsert(
      grantInput(ada.userId, {
        contractDigest: "d2",
        approval: { ...approval, contractDigest: "d2" },
        // Same anchor, fields given in another order.
        anchor: { origin: "https://app.example.com", contractId: "acme.app@v1", kind: "web" },
        publishSubjects: ["rpc.v1.C"],
      }),
    );
    expect(second.identityGrantId).toBe(first.identityGrantId);
    expect(second).toMatchObject({ evidenceContractDigest: "d2", publishSubjects: ["rpc.v1.C"] });
    expect(store.identityGrants.listByUser(ada.userId)).toHaveLength(1);
    expect(store.db.prepare("SELECT COUNT(*) AS n FROM identity_grants").get()).toEqual({ n: 1 });
    expect(store.db.prepare("SELECT COUNT(*) AS n FROM identity_authorities").get()).toEqual({ n: 1 });

    const cli = store.identityGrants.upsert(
      grantInput(ada.userId, {
        anchor: { kind: "cli", contractId: "acme.app@v1", sessionPublicKey: "K".repeat(43) },
      }),
    );
    expect(cli.identityGrantId).not.toBe(first.identityGrantId);
    expect(store.identityGrants.listByUser(ada.userId)).toHaveLength(2);
    expect(store.identityGrants.find(ada.userId, cli.anchor)).toEqual(cli);
    expect(store.identityGrants.get(first.identityGrantId)).toEqual(second);

    store.sessions.upsert(userSession("S1", ada.userId, first.identityGrantId));
    store.sessions.upsert(userSession("S2", ada.userId, cli.identityGrantId));
    const revoked = store.identityGrants.revoke(first.identityGrantId).unwrap();
    expect(revoked.sessionKeys).toEqual(["S1"]);
    expect(store.identityGrants.get(first.identityGrantId)).toBeUndefined();
    expect(store.sessions.get("S1")).toBeUndefined();
    expect(store.sessions.get("S2")).toBeDefined();
    expect(store.identityGrants.revoke(first.identityGrantId).take()).toMatchObject({
      reason: "identity_grant_not_found",
    });
  });
});

function userSession(
  sessionKey: string,
  userId: string,
  identityGrantId: string | null = null,
): SessionInput {
  return {
    sessionKey,
    trellisId: userId,
    type: "user",
    origin: "github",
    externalId: "42",
    identityGrantId,
    contractDigest: "d1",
    contractId: "acme.app@v1",
    participantKind: "app",
    session: { type: "user", userId, nested: { list: [1, "two", null, true] } },
  };
}

describe("SessionsRepository", () => {
  it("keeps one session per key and round-trips it", () => {
    const ada = makeUser();
    const stored = store.sessions.upsert(userSession("S1", ada.userId, "g1"));
    expect(store.sessions.get("S1")).toEqual(stored);
    expect(stored).toMatchObject({
      createdAt: T0.toISOString(),
      lastAuth: T0.toISOString(),
      instanceId: null,
    });

    now = at(1000);
    store.sessions.upsert({ ...userSession("S1", ada.userId, "g2"), contractDigest: "d2" });
    expect(store.db.prepare("SELECT COUNT(*) AS n FROM sessions").get()).toEqual({ n: 1 });
    expect(store.sessions.get("S1")).toMatchObject({ identityGrantId: "g2", contractDigest: "d2" });

    store.sessions.upsert({
      sessionKey: "SVC",
      trellisId: "svc-trellis-id",
      type: "service",
      instanceId: "svc_1",
      deploymentId: "billing",
      instanceKey: "SVC",
      participantKind: "service",
      session: { type: "service" },
    });
    expect(store.sessions.listByUser(ada.userId).map((s) => s.sessionKey)).toEqual(["S1"]);
    expect(store.sessions.listByGrant("g2").map((s) => s.sessionKey)).toEqual(["S1"]);
    expect(store.sessions.list({ limit: 1 })).toMatchObject({ count: 2, nextOffset: 1 });
    expect(store.sessions.list({}, { type: "service" }).entries.map((s) => s.sessionKey)).toEqual(["SVC"]);

    expect(store.sessions.delete("S1")).toBe(true);
    expect(store.sessions.get("S1")).toBeUndefined();
    expect(store.sessions.delete("S1")).toBe(false);
  });

  it("expires sessions 24 h after the last authentication and deletes them lazily", () => {
    const ada = makeUser();
    store.sessions.upsert(userSession("S1", ada.userId));
    store.sessions.upsert(userSession("S2", ada.userId));

    now = at(SESSION_TTL_MS - 1);
    expect(store.sessions.get("S1")).toBeDefined();
    expect(store.sessions.touch("S2")).toBe(true);

    now = at(SESSION_TTL_MS);
    expect(store.sessions.listByUser(ada.userId).map((s) => s.sessionKey)).toEqual(["S2"]);
    expect(store.sessions.get("S1")).toBeUndefined();
    expect(store.db.prepare("SELECT session_key FROM sessions").all()).toEqual([{ session_key: "S2" }]);
    expect(store.sessions.get("S2")?.lastAuth).toBe(at(SESSION_TTL_MS - 1).toISOString());

    now = at(2 * SESSION_TTL_MS);
    expect(store.sessions.purgeExpired()).toBe(1);
    expect(store.db.prepare("SELECT COUNT(*) AS n FROM sessions").get()).toEqual({ n: 0 });
  });

  it("deletes the sessions of a user, optionally keeping one", () => {
    const ada = makeUser();
    for (const key of ["A", "B", "C"]) store.sessions.upsert(userSession(key, ada.userId));
    expect(store.sessions.deleteByUser(ada.userId, { exceptSessionKey: "B" })).toEqual(["A", "C"]);
    expect(store.sessions.listByUser(ada.userId).map((s) => s.sessionKey)).toEqual(["B"]);
  });
});

describe("ContractsRepository", () => {
  const manifest: ContractManifest = {
    format: "trellis.contract.v1",
    id: "acme.app@v1",
    displayName: "Acme",
    description: "Acme app",
    kind: "app",
  };

  it("stores manifests by digest, idempotently", () => {
    const stored = store.contracts.put(manifest);
    expect(stored).toMatchObject({
      digest: digestContractManifest(manifest),
      contractId: "acme.app@v1",
      displayName: "Acme",
      description: "Acme app",
      installedAt: T0.toISOString(),
    });
    expect(stored.manifest).toEqual(manifest);
    expect(store.contracts.get(stored.digest)).toEqual(stored);
    expect(store.contracts.has(stored.digest)).toBe(true);

    now = at(1000);
    expect(store.contracts.put(manifest).installedAt).toBe(T0.toISOString());
    // The description is not part of the digest: same digest, first row kept.
    expect(store.contracts.put({ ...manifest, description: "Other" }).description).toBe("Acme app");
    const v2 = store.contracts.put({
      ...manifest,
      capabilities: { read: { displayName: "Read", description: "Read things" } },
    });
    expect(v2.digest).not.toBe(stored.digest);
    expect(store.contracts.listByContractId("acme.app@v1").map((c) => c.digest)).toEqual([
      v2.digest,
      stored.digest,
    ]);
    expect(store.contracts.list()).toHaveLength(2);
    expect(store.contracts.get("missing")).toBeUndefined();
  });
});
