import type { NatsConnection } from "@nats-io/transport-node";
import { trellisAuth } from "@trellis/builtin-contracts";
import { defineServiceContract } from "@trellis/contracts";
import { generateSessionSeed, sessionKeyFromSeed, sha256, signRpcProof } from "@trellis/runtime/auth";
import type { NatsServerHandle } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionRegistry } from "../src/callout/connections.js";
import type { ControlPlaneStore } from "../src/store/store.js";
import type { User } from "../src/store/users-repository.js";
import { createLocalUser } from "../src/users/local-accounts.js";
import { type AuthRpcHarness, type PublishedEvent, startAuthRpcHarness } from "./support/auth-rpc-harness.js";
import { authCli, authTestClients, expectAuthError, waitFor } from "./support/auth-test-clients.js";
import { provisionService } from "./support/service-fixture.js";

const PASSWORD = "correct horse battery";

let server: NatsServerHandle;
let store: ControlPlaneStore;
let registry: ConnectionRegistry;
const connections: NatsConnection[] = [];
const published: PublishedEvent[] = [];

let admin: User;
let alice: User;

const { participant, userSession } = authTestClients({
  url: () => server.url,
  store: () => store,
  connections,
});

/** A provisioned, accepted and reconciled service with the session the callout would record. */
async function serviceSession(deploymentId: string) {
  const ctx = harness?.ctx;
  if (!ctx) throw new Error("the harness is not started");
  const manifest = defineServiceContract({}, () => ({
    id: `${deploymentId}@v1`,
    displayName: deploymentId,
    description: "A service calling the auth RPCs in tests.",
  })).CONTRACT;
  const { seed, sessionKey } = await provisionService(store, {
    deploymentId,
    manifest,
    resolveContract: ctx.catalog.resolver(),
    reconcile: async (id) => (await ctx.deploymentAuthority.reconcileNow(id)).unwrap().materialized,
    recordSession: true,
  });
  return { seed, sessionKey, client: await participant(seed) };
}

/** Records a live connection of a session in the connection registry. */
async function recordConnection(sessionKey: string, user: User, userNkey: string): Promise<void> {
  await registry.record({
    principal: {
      kind: "user",
      scopeId: user.userId,
      name: user.name,
      publish: [],
      subscribe: [],
      respMax: 1,
    },
    token: { sessionKey, iat: Math.floor(Date.now() / 1000), contractDigest: authCli.CONTRACT_DIGEST },
    userNkey,
    serverId: "NTESTSERVER",
    clientId: 7,
  });
}

function eventsOf(event: string, sessionKey?: string) {
  return published.filter(
    (entry) => entry.event === event && (sessionKey === undefined || entry.payload.sessionKey === sessionKey),
  );
}

let harness: AuthRpcHarness | undefined;

beforeAll(async () => {
  harness = await startAuthRpcHarness({ name: "rpc-auth", password: PASSWORD, connections, published });
  ({ server, store, registry, admin, alice } = harness);
});

afterAll(async () => {
  await harness?.stop();
});

describe("Auth.Requests.Validate", () => {
  const subject = "rpc.v1.Billing.Invoices.Get";
  const payload = JSON.stringify({ invoiceId: "inv_1" });

  async function proofRequest(
    seed: string,
    overrides: { subject?: string; requestId?: string; iat?: number } = {},
  ) {
    const iat = overrides.iat ?? Math.floor(Date.now() / 1000);
    const requestId = overrides.requestId ?? `req-${Math.random().toString(36).slice(2)}`;
    const signedSubject = overrides.subject ?? subject;
    return {
      sessionKey: sessionKeyFromSeed(seed),
      proof: signRpcProof({ seed, subject: signedSubject, payload, iat, requestId }),
      subject: signedSubject,
      payloadHash: sha256(payload).toString("base64url"),
      iat,
      requestId,
    };
  }

  it("allows a delegated subject and capability, and refuses a replayed request id", async () => {
    const { client: billing } = await serviceSession("billing");
    const user = await userSession(alice, {
      capabilities: ["billing::read"],
      publish: ["rpc.v1.Billing.Invoices.*"],
    });
    const request = await proofRequest(user.seed, { requestId: "req-once" });

    const first = await billing.rpc.auth.requestsValidate({ ...request, capabilities: ["billing::read"] });
    expect(first.isOk()).toBe(true);
    const answer = first.unwrap();
    expect(answer.allowed).toBe(true);
    expect(answer.inboxPrefix).toBe(`_INBOX.${user.sessionKey.slice(0, 16)}`);
    expect(answer.caller).toMatchObject({
      type: "user",
      participantKind: "agent",
      userId: alice.userId,
      email: "alice@example.com",
      active: true,
      capabilities: ["billing::read"],
      identity: { provider: "local", subject: "alice" },
    });

    const replayed = await billing.rpc.auth.requestsValidate({ ...request, capabilities: ["billing::read"] });
    expectAuthError(replayed, "invalid_signature");
  });

  it("answers allowed:false for a missing capability or a subject outside the delegated list", async () => {
    const { client: billing } = await serviceSession("billing-2");
    const user = await userSession(alice, {
      capabilities: ["billing::read"],
      publish: ["rpc.v1.Billing.Invoices.*"],
    });

    const missing = await billing.rpc.auth.requestsValidate({
      ...(await proofRequest(user.seed)),
      capabilities: ["billing::write"],
    });
    expect(missing.unwrap().allowed).toBe(false);

    const outside = await billing.rpc.auth.requestsValidate({
      ...(await proofRequest(user.seed, { subject: "rpc.v1.Billing.Payments.Refund" })),
      capabilities: ["billing::read"],
    });
    expect(outside.unwrap().allowed).toBe(false);
  });

  it("refuses bad hashes, stale iat, forged proofs and unknown sessions", async () => {
    const { client: billing } = await serviceSession("billing-3");
    const user = await userSession(alice, { publish: [subject] });

    expectAuthError(
      await billing.rpc.auth.requestsValidate({
        ...(await proofRequest(user.seed)),
        payloadHash: "not*base64",
      }),
      "invalid_signature",
    );
    expectAuthError(
      await billing.rpc.auth.requestsValidate(
        await proofRequest(user.seed, { iat: Math.floor(Date.now() / 1000) - 31 }),
      ),
      "iat_out_of_range",
    );
    const forged = await proofRequest(generateSessionSeed());
    expectAuthError(
      await billing.rpc.auth.requestsValidate({ ...forged, sessionKey: user.sessionKey }),
      "invalid_signature",
    );
    expectAuthError(
      await billing.rpc.auth.requestsValidate(await proofRequest(generateSessionSeed())),
      "session_not_found",
    );
  });

  it("is only for services", async () => {
    const user = await userSession(alice, { publish: ["rpc.v1.>"] });
    expectAuthError(
      await user.client.rpc.auth.requestsValidate(await proofRequest(user.seed)),
      "insufficient_permissions",
    );
  });
});

describe("Auth.Sessions.*", () => {
  it("Me describes the calling user session", async () => {
    const user = await userSession(alice, { capabilities: ["billing::read"] });
    const me = (await user.client.rpc.auth.sessionsMe({})).unwrap();
    expect(me.participantKind).toBe("agent");
    expect(me.device).toBeNull();
    expect(me.service).toBeNull();
    expect(me.user).toMatchObject({
      userId: alice.userId,
      name: "alice",
      email: "alice@example.com",
      active: true,
      capabilities: ["billing::read"],
      identity: { provider: "local", subject: "alice" },
    });
  });

  it("Me describes a service session", async () => {
    const { client } = await serviceSession("inventory");
    const me = (await client.rpc.auth.sessionsMe({})).unwrap();
    expect(me).toMatchObject({
      participantKind: "service",
      user: null,
      service: { type: "service", id: "inventory", capabilities: ["service"] },
    });
  });

  it("Logout deletes the session, kicks its connections, and the next call fails", async () => {
    const user = await userSession(alice);
    await recordConnection(user.sessionKey, alice, "UALICELOGOUT");
    expect((await user.client.rpc.auth.sessionsMe({})).isOk()).toBe(true);

    expect((await user.client.rpc.auth.sessionsLogout({})).unwrap()).toEqual({ success: true });
    expect(store.sessions.get(user.sessionKey)).toBeUndefined();
    // Connections are kicked just after the reply goes out.
    const deadline = Date.now() + 2000;
    while ((await registry.list(user.sessionKey)).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(await registry.list(user.sessionKey)).toEqual([]);
    await waitFor(() => eventsOf("Auth.Sessions.Revoked", user.sessionKey).length === 1, "Sessions.Revoked");
    expect(eventsOf("Auth.Sessions.Revoked", user.sessionKey)[0]?.payload).toMatchObject({
      origin: "local",
      id: "alice",
      revokedBy: alice.userId,
    });

    expectAuthError(await user.client.rpc.auth.sessionsMe({}), "session_not_found");
  });

  it("Logout is for user sessions only", async () => {
    const { client } = await serviceSession("reports");
    expectAuthError(await client.rpc.auth.sessionsLogout({}), "forbidden");
  });

  it("Revoke deletes the session's identity grant and every session of that grant", async () => {
    const root = await userSession(admin, { capabilities: ["admin"] });
    const grant = store.identityGrants.upsert({
      userId: alice.userId,
      origin: "local",
      externalId: "alice",
      anchor: { kind: "web", contractId: authCli.CONTRACT_ID, origin: "https://app.example.com" },
      contractDigest: authCli.CONTRACT_DIGEST,
      contractId: authCli.CONTRACT_ID,
      participantKind: "app",
      approval: {
        contractDigest: authCli.CONTRACT_DIGEST,
        contractId: authCli.CONTRACT_ID,
        displayName: "Auth test app",
        description: "An app.",
        participantKind: "app",
        capabilities: {},
      },
      publishSubjects: ["rpc.v1.Auth.>"],
      subscribeSubjects: [],
    });
    const first = await userSession(alice, { identityGrantId: grant.identityGrantId });
    const second = await userSession(alice, { identityGrantId: grant.identityGrantId });
    const unrelated = await userSession(alice);
    await recordConnection(second.sessionKey, alice, "UALICESECOND");

    const sessions = (await root.client.rpc.auth.sessionsList({ limit: 500, user: alice.userId })).unwrap();
    expect(sessions.entries.map((entry) => entry.sessionKey)).toEqual(
      expect.arrayContaining([first.sessionKey, second.sessionKey, unrelated.sessionKey]),
    );
    expect(sessions.entries.find((entry) => entry.sessionKey === first.sessionKey)).toMatchObject({
      participantKind: "agent",
      principal: { type: "user", userId: alice.userId, name: "alice" },
      contractId: authCli.CONTRACT_ID,
      contractDisplayName: authCli.CONTRACT_ID,
    });

    const revoked = await root.client.rpc.auth.sessionsRevoke({ sessionKey: first.sessionKey });
    expect(revoked.unwrap()).toEqual({ success: true });
    expect(store.identityGrants.get(grant.identityGrantId)).toBeUndefined();
    expect(store.sessions.get(first.sessionKey)).toBeUndefined();
    expect(store.sessions.get(second.sessionKey)).toBeUndefined();
    expect(store.sessions.get(unrelated.sessionKey)).toBeDefined();
    expect(await registry.list(second.sessionKey)).toEqual([]);
    await waitFor(
      () =>
        eventsOf("Auth.Sessions.Revoked", first.sessionKey).length === 1 &&
        eventsOf("Auth.Sessions.Revoked", second.sessionKey).length === 1,
      "Sessions.Revoked for both sessions of the grant",
    );
    expect(eventsOf("Auth.Sessions.Revoked", second.sessionKey)[0]?.payload.revokedBy).toBe(admin.userId);
    expectAuthError(await second.client.rpc.auth.sessionsMe({}), "session_not_found");

    expect((await root.client.rpc.auth.sessionsRevoke({ sessionKey: first.sessionKey })).unwrap()).toEqual({
      success: false,
    });
  });
});

describe("admin RPCs", () => {
  it("refuse a caller without the admin capability", async () => {
    const user = await userSession(alice);
    expectAuthError(await user.client.rpc.auth.usersList({ limit: 10 }), "insufficient_permissions");
    expectAuthError(await user.client.rpc.auth.sessionsList({ limit: 10 }), "insufficient_permissions");
    expectAuthError(
      await user.client.rpc.auth.capabilityGroupsPut({ groupKey: "g", displayName: "G", description: "G" }),
      "insufficient_permissions",
    );
    // An administrator whose session was not delegated `admin` cannot use it either.
    const root = await userSession(admin, { capabilities: [] });
    expectAuthError(await root.client.rpc.auth.connectionsList({ limit: 10 }), "insufficient_permissions");
  });

  it("Users.Create and Update, never demoting the last active administrator", async () => {
    const root = await userSession(admin, { capabilities: ["admin"] });
    expectAuthError(
      await root.client.rpc.auth.usersUpdate({ userId: admin.userId, capabilityGroups: [] }),
      "last_admin_required",
    );
    expectAuthError(
      await root.client.rpc.auth.usersUpdate({ userId: admin.userId, active: false }),
      "last_admin_required",
    );

    const created = (
      await root.client.rpc.auth.usersCreate({
        name: "Bob",
        email: "bob@example.com",
        username: "bob",
        capabilityGroups: ["admin"],
      })
    ).unwrap().user;
    expect(created).toMatchObject({
      name: "Bob",
      email: "bob@example.com",
      active: true,
      capabilityGroups: ["admin"],
      identities: [{ provider: "local", subject: "bob", displayName: "Bob", lastLoginAt: null }],
    });
    expectAuthError(await root.client.rpc.auth.usersCreate({ username: "bob" }), "username_taken");

    const got = (await root.client.rpc.auth.usersGet({ userId: created.userId })).unwrap().user;
    expect(got).toEqual(created);
    expectAuthError(await root.client.rpc.auth.usersGet({ userId: "usr_missing" }), "user_not_found");

    // With a second administrator, the first may step down; then Bob is the last one.
    expect(
      (await root.client.rpc.auth.usersUpdate({ userId: admin.userId, capabilityGroups: [] })).unwrap(),
    ).toEqual({ success: true });
    expect(store.users.get(admin.userId)?.capabilityGroups).toEqual([]);
    // Root's session delegated `admin`, which root no longer holds: the session no longer resolves.
    expectAuthError(await root.client.rpc.auth.usersList({ limit: 1 }), "session_not_found");
    store.users.update(admin.userId, { capabilityGroups: ["admin"] }).unwrap();

    const listed = (
      await (
        await userSession(admin, { capabilities: ["admin"] })
      ).client.rpc.auth.usersList({
        limit: 500,
      })
    ).unwrap();
    expect(listed.entries.map((user) => user.userId)).toEqual(
      expect.arrayContaining([admin.userId, alice.userId, created.userId]),
    );
  });

  it("PasswordReset.Create issues a reset link for a local user", async () => {
    const root = await userSession(admin, { capabilities: ["admin"] });
    const link = (
      await root.client.rpc.auth.usersPasswordResetCreate({ userId: alice.userId, expiresInSeconds: 600 })
    ).unwrap();
    expect(link.url).toBe(
      `https://trellis.example.com/_trellis/portal/account/password?flowId=${encodeURIComponent(link.flowId)}`,
    );
    const flow = store.accountFlows.findByFlowId(link.flowId);
    expect(flow).toMatchObject({
      kind: "local_password_reset",
      targetUserId: alice.userId,
      targetLocalUsername: "alice",
      createdByUserId: admin.userId,
    });
    expect(Date.parse(link.expiresAt) - Date.parse(flow?.createdAt ?? "")).toBe(600_000);
  });

  it("Capabilities.List and CapabilityGroups.*: only cataloged capabilities, built-in admin read-only", async () => {
    const root = await userSession(admin, { capabilities: ["admin"] });
    const catalog = (await root.client.rpc.auth.capabilitiesList({ limit: 500 })).unwrap();
    const keys = catalog.entries.map((entry) => entry.key);
    expect(keys.slice(0, 2)).toEqual(["admin", "service"]);
    expect(keys).toEqual(expect.arrayContaining(["trellis.auth::events.auth", "trellis.jobs::admin.read"]));
    expect(catalog.entries.find((entry) => entry.key === "trellis.auth::events.auth")).toMatchObject({
      source: "contract",
      contractId: "trellis.auth@v1",
      contractDigest: trellisAuth.CONTRACT_DIGEST,
      contractDisplayName: "Trellis Auth",
    });
    const page = (await root.client.rpc.auth.capabilitiesList({ limit: 1, offset: 1 })).unwrap();
    expect(page).toMatchObject({ count: catalog.count, offset: 1, limit: 1, nextOffset: 2 });

    const refused = await root.client.rpc.auth.capabilityGroupsPut({
      groupKey: "billing",
      displayName: "Billing",
      description: "Billing staff",
      capabilities: ["billing::read"],
    });
    expectAuthError(refused, "invalid_request");
    expectAuthError(
      await root.client.rpc.auth.capabilityGroupsPut({
        groupKey: "operators",
        displayName: "Operators",
        description: "Operators",
        includedGroups: ["nope"],
      }),
      "invalid_request",
    );
    expectAuthError(
      await root.client.rpc.auth.capabilityGroupsPut({
        groupKey: "admin",
        displayName: "Admins",
        description: "Mine now",
      }),
      "capability_group_read_only",
    );

    const put = (
      await root.client.rpc.auth.capabilityGroupsPut({
        groupKey: "jobs-readers",
        displayName: "Jobs readers",
        description: "Read background jobs",
        capabilities: ["trellis.jobs::admin.read"],
      })
    ).unwrap().group;
    expect(put).toMatchObject({ groupKey: "jobs-readers", capabilities: ["trellis.jobs::admin.read"] });
    expect(
      (await root.client.rpc.auth.capabilityGroupsGet({ groupKey: "jobs-readers" })).unwrap().group,
    ).toEqual(put);
    const groups = (await root.client.rpc.auth.capabilityGroupsList({ limit: 500 })).unwrap();
    expect(groups.entries.map((group) => group.groupKey)).toEqual(["admin", "jobs-readers"]);
    expect(
      (await root.client.rpc.auth.capabilityGroupsDelete({ groupKey: "jobs-readers" })).unwrap(),
    ).toEqual({
      success: true,
    });
    expect(
      (await root.client.rpc.auth.capabilityGroupsDelete({ groupKey: "jobs-readers" })).unwrap(),
    ).toEqual({
      success: false,
    });
    expectAuthError(
      await root.client.rpc.auth.capabilityGroupsDelete({ groupKey: "admin" }),
      "capability_group_read_only",
    );
  });

  it("Connections.List and Kick", async () => {
    const root = await userSession(admin, { capabilities: ["admin"] });
    const user = await userSession(alice);
    await recordConnection(user.sessionKey, alice, "UALICEKICK");

    const listed = (
      await root.client.rpc.auth.connectionsList({ limit: 100, sessionKey: user.sessionKey })
    ).unwrap();
    expect(listed.entries).toEqual([
      expect.objectContaining({
        userNkey: "UALICEKICK",
        sessionKey: user.sessionKey,
        serverId: "NTESTSERVER",
        clientId: 7,
        participantKind: "agent",
        principal: expect.objectContaining({ type: "user", userId: alice.userId }),
      }),
    ]);

    expect((await root.client.rpc.auth.connectionsKick({ userNkey: "UALICEKICK" })).unwrap()).toEqual({
      success: true,
    });
    expect(await registry.list(user.sessionKey)).toEqual([]);
    await waitFor(
      () =>
        published.some(
          (entry) => entry.event === "Auth.Connections.Kicked" && entry.payload.userNkey === "UALICEKICK",
        ),
      "Connections.Kicked",
    );
    expect((await root.client.rpc.auth.connectionsKick({ userNkey: "UALICEKICK" })).unwrap()).toEqual({
      success: false,
    });
  });
});

describe("self-service RPCs", () => {
  it("IdentityGrants.List and Revoke act on the caller's grants; admins may name a user", async () => {
    const grant = store.identityGrants.upsert({
      userId: alice.userId,
      origin: "local",
      externalId: "alice",
      anchor: { kind: "cli", contractId: authCli.CONTRACT_ID, sessionPublicKey: "k".repeat(43) },
      contractDigest: authCli.CONTRACT_DIGEST,
      contractId: authCli.CONTRACT_ID,
      participantKind: "agent",
      approval: {
        contractDigest: authCli.CONTRACT_DIGEST,
        contractId: authCli.CONTRACT_ID,
        displayName: "Auth test CLI",
        description: "",
        participantKind: "agent",
        capabilities: { "billing::read": { displayName: "Read billing", description: "Read invoices." } },
      },
      publishSubjects: ["rpc.v1.Auth.>"],
      subscribeSubjects: [],
    });
    const user = await userSession(alice);
    const bound = await userSession(alice, { identityGrantId: grant.identityGrantId });

    const mine = (await user.client.rpc.auth.identityGrantsList({ limit: 100 })).unwrap();
    expect(mine.entries).toEqual([
      expect.objectContaining({
        identityGrantId: grant.identityGrantId,
        identityAnchor: { kind: "cli", contractId: authCli.CONTRACT_ID, sessionPublicKey: "k".repeat(43) },
        contractEvidence: { contractDigest: authCli.CONTRACT_DIGEST, contractId: authCli.CONTRACT_ID },
        displayName: "Auth test CLI",
        description: "Auth test CLI",
        participantKind: "agent",
        capabilities: ["billing::read"],
      }),
    ]);
    expectAuthError(
      await user.client.rpc.auth.identityGrantsList({ limit: 100, user: admin.userId }),
      "insufficient_permissions",
    );
    const root = await userSession(admin, { capabilities: ["admin"] });
    expect(
      (await root.client.rpc.auth.identityGrantsList({ limit: 100, user: alice.userId })).unwrap().count,
    ).toBe(1);
    // Someone else's grant is not the caller's to revoke.
    expect(
      (await root.client.rpc.auth.identityGrantsRevoke({ identityGrantId: grant.identityGrantId })).unwrap(),
    ).toEqual({ success: false });

    expect(
      (await user.client.rpc.auth.identityGrantsRevoke({ identityGrantId: grant.identityGrantId })).unwrap(),
    ).toEqual({ success: true });
    expect(store.identityGrants.get(grant.identityGrantId)).toBeUndefined();
    expect(store.sessions.get(bound.sessionKey)).toBeUndefined();
    expectAuthError(await bound.client.rpc.auth.sessionsMe({}), "session_not_found");
  });

  it("Users.Password.Change checks the current password and ends the user's other sessions", async () => {
    const carol = (await createLocalUser(store, { username: "carol", password: PASSWORD })).unwrap();
    const current = await userSession(carol);
    const other = await userSession(carol);

    expectAuthError(
      await current.client.rpc.auth.usersPasswordChange({
        currentPassword: "wrong password!",
        newPassword: "a brand new password",
      }),
      "invalid_credentials",
    );
    const tooShort = await current.client.rpc.auth.usersPasswordChange({
      currentPassword: PASSWORD,
      newPassword: "short",
    });
    expect(tooShort.isErr() && tooShort.error.name).toBe("ValidationError");

    expect(
      (
        await current.client.rpc.auth.usersPasswordChange({
          currentPassword: PASSWORD,
          newPassword: "a brand new password",
        })
      ).unwrap(),
    ).toEqual({ success: true });
    expect(store.sessions.get(current.sessionKey)).toBeDefined();
    expect(store.sessions.get(other.sessionKey)).toBeUndefined();
    expectAuthError(await other.client.rpc.auth.sessionsMe({}), "session_not_found");
  });

  it("Health reports the store check", async () => {
    const user = await userSession(alice);
    const health = (await user.client.rpc.auth.health({})).unwrap();
    expect(health.service).toBe("trellis");
    expect(health.checks.map((check) => check.name)).toContain("sqlite");
    expect(health.status).toBe("healthy");
  });
});
