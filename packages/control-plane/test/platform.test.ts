/**
 * The real stack: nats-server in operator mode with the auth callout, the control plane on a temp
 * SQLite file, and clients that sign in through the detached (CLI) flow and connect as the sentinel.
 */
import { connect, jwtAuthenticator, type NatsConnection, tokenAuthenticator } from "@nats-io/transport-node";
import { trellisAuth, trellisCore } from "@trellis/builtin-contracts";
import { defineAgentContract } from "@trellis/contracts";
import { type AuthRequiredInfo, TrellisClient, waitForDetachedFlow } from "@trellis/runtime";
import { generateSessionSeed, natsConnectToken, sessionKeyFromSeed, signDomain } from "@trellis/runtime/auth";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = defineAgentContract({}, () => ({
  id: "platform-test-cli@v1",
  displayName: "Platform test CLI",
  description: "Signs in and calls the control plane.",
  uses: {
    required: {
      auth: trellisAuth.use({ rpc: { call: ["Auth.Sessions.Me", "Auth.Sessions.Logout"] } }),
      core: trellisCore.use({ rpc: { call: ["Trellis.Catalog"] } }),
    },
  },
}));

let platform: PlatformHandle;
const opened: NatsConnection[] = [];

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

/** Plays the person at the portal: signs in locally and approves the contract. */
async function approveAs(info: AuthRequiredInfo, username: string, password: string): Promise<void> {
  const login = await fetch(`${platform.url}/auth/login/local`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ flowId: info.flowId, username, password }),
  });
  expect(login.status).toBe(200);
  const state = await json(await fetch(`${platform.url}/auth/flow/${info.flowId}`));
  expect(state.status).toBe("approval_required");
  const approval = await fetch(`${platform.url}/auth/flow/${info.flowId}/approval`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ approved: true }),
  });
  expect(approval.status).toBe(200);
  await waitForDetachedFlow(info, { pollIntervalMs: 100, timeoutMs: 10_000 });
}

async function signIn(seed?: string) {
  const admin = platform.admin!;
  return TrellisClient.connect({
    trellisUrl: platform.url,
    contract: cli,
    ...(seed && { sessionKeySeed: seed }),
    logger: false,
    onAuthRequired: (info) => approveAs(info, admin.username, admin.password),
  });
}

/** Connects as the sentinel with a hand-made runtime token; resolves to the error (if any). */
async function rawConnect(token: string | undefined, seedForInbox = generateSessionSeed()): Promise<unknown> {
  const sentinel = platform.controlPlane.context.sentinel;
  try {
    const nc = await connect({
      servers: platform.natsUrl,
      inboxPrefix: `_INBOX.${sessionKeyFromSeed(seedForInbox).slice(0, 16)}`,
      authenticator: [
        jwtAuthenticator(sentinel.jwt, new TextEncoder().encode(sentinel.seed)),
        ...(token === undefined ? [] : [tokenAuthenticator(token)]),
      ],
      maxReconnectAttempts: 0,
      timeout: 5000,
    });
    opened.push(nc);
    return undefined;
  } catch (error) {
    return error;
  }
}

function lastDecision(): string | undefined {
  return platform.controlPlane.recentCalloutDecisions().at(-1)?.outcome;
}

beforeAll(async () => {
  platform = await startPlatform();
}, 60_000);

afterAll(async () => {
  await Promise.all(opened.map((nc) => nc.close().catch(() => undefined)));
  await platform?.stop();
});

describe("detached login and the callout", () => {
  it("signs in, binds, connects through the callout and reads Auth.Sessions.Me", async () => {
    const client = await signIn();
    opened.push(client.nc);
    const me = await client.rpc.auth.sessionsMe({});
    expect(me.isOk()).toBe(true);
    if (me.isOk()) expect(JSON.stringify(me.value)).toContain(platform.admin!.username);
    const catalog = await client.rpc.trellis.catalog({});
    expect(catalog.isOk() && catalog.value.catalog.format).toBe("trellis.catalog.v1");
    expect(lastDecision()).toBe("admitted");
  });

  it("enforces the issued permissions: no publish outside the approved subjects", async () => {
    const client = await signIn();
    opened.push(client.nc);
    await expect(
      client.nc.request("rpc.v1.Auth.Users.List", new Uint8Array(), { timeout: 2000 }),
    ).rejects.toThrow(/permission/i);
    const errors: string[] = [];
    void (async () => {
      for await (const status of client.nc.status())
        if (status.type === "error") errors.push(String(status.error));
    })();
    client.nc.subscribe("events.v1.Anything.>");
    await client.nc.flush().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(errors.join("\n")).toMatch(/permission/i);
  });
});

describe("callout denials (auth §7 items 1–5)", () => {
  const seed = generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  const now = () => Math.floor(Date.now() / 1000);
  const token = (fields: Record<string, unknown>) =>
    JSON.stringify({ v: 1, sessionKey, iat: now(), contractDigest: cli.CONTRACT_DIGEST, ...fields });

  const cases: [string, () => string | undefined, string][] = [
    ["no token", () => undefined, "auth_token_required"],
    ["a token that is not JSON", () => "not-json", "invalid_auth_token"],
    ["v ≠ 1", () => token({ v: 2, sig: "A".repeat(86) }), "invalid_auth_token"],
    [
      "a malformed session key",
      () => token({ sessionKey: "short", sig: "A".repeat(86) }),
      "invalid_auth_token",
    ],
    ["a non-integer iat", () => token({ iat: 1.5, sig: "A".repeat(86) }), "invalid_auth_token"],
    ["an empty digest", () => token({ contractDigest: "", sig: "A".repeat(86) }), "invalid_auth_token"],
    [
      "a signature over another digest",
      () => {
        const other = JSON.parse(natsConnectToken({ seed, iat: now(), contractDigest: "other-digest" })) as {
          sig: string;
        };
        return token({ sig: other.sig });
      },
      "invalid_signature",
    ],
    [
      "a signature by another key",
      () => {
        const other = JSON.parse(
          natsConnectToken({ seed: generateSessionSeed(), iat: now(), contractDigest: cli.CONTRACT_DIGEST }),
        ) as {
          sig: string;
        };
        return token({ sig: other.sig });
      },
      "invalid_signature",
    ],
    [
      "a stale iat",
      () => natsConnectToken({ seed, iat: now() - 31, contractDigest: cli.CONTRACT_DIGEST }),
      "iat_out_of_range",
    ],
    [
      "a future iat",
      () => natsConnectToken({ seed, iat: now() + 31, contractDigest: cli.CONTRACT_DIGEST }),
      "iat_out_of_range",
    ],
    [
      "an unknown session key",
      () => natsConnectToken({ seed, iat: now(), contractDigest: cli.CONTRACT_DIGEST }),
      "session_not_found",
    ],
  ];
  for (const [name, make, code] of cases) {
    it(`denies ${name} with ${code}`, async () => {
      const error = await rawConnect(make());
      expect(error).toBeInstanceOf(Error);
      expect(lastDecision()).toBe(code);
    });
  }

  it("denies a bound session presenting another digest (contract_changed)", async () => {
    const client = await signIn();
    opened.push(client.nc);
    const error = await rawConnect(
      natsConnectToken({
        seed: client.sessionKeySeed,
        iat: now(),
        contractDigest: trellisCore.CONTRACT_DIGEST,
      }),
    );
    expect(error).toBeInstanceOf(Error);
    expect(lastDecision()).toBe("contract_changed");
  });
});

describe("revocation", () => {
  it("logout deletes the session, kicks the connection, and the next connect fails with session_not_found", async () => {
    const client = await signIn();
    const closed = client.nc.closed();
    const logout = await client.rpc.auth.sessionsLogout({});
    expect(logout.isOk()).toBe(true);
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    const again = await rawConnect(
      natsConnectToken({
        seed: client.sessionKeySeed,
        iat: Math.floor(Date.now() / 1000),
        contractDigest: cli.CONTRACT_DIGEST,
      }),
    );
    expect(again).toBeInstanceOf(Error);
    expect(lastDecision()).toBe("session_not_found");
    await client.nc.close().catch(() => undefined);
  });

  it("HTTP logout works with a signed request", async () => {
    const client = await signIn();
    opened.push(client.nc);
    const iat = Math.floor(Date.now() / 1000);
    const sessionKey = sessionKeyFromSeed(client.sessionKeySeed);
    const response = await fetch(`${platform.url}/auth/sessions/logout`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        sessionKey,
        iat,
        sig: signDomain(client.sessionKeySeed, "logout-session", JSON.stringify({ iat })),
      }),
    });
    expect(response.status).toBe(200);
    expect(platform.controlPlane.context.store.sessions.get(sessionKey)).toBeUndefined();
  });

  it("a removed capability makes the next connect fail with insufficient_permissions", async () => {
    const store = platform.controlPlane.context.store;
    const { userId } = await platform.createUser({
      username: "reader",
      password: "reader-password-1",
      capabilities: ["trellis.core::catalog.read"],
    });
    const client = await TrellisClient.connect({
      trellisUrl: platform.url,
      contract: cli,
      logger: false,
      onAuthRequired: (info) => approveAs(info, "reader", "reader-password-1"),
    });
    await client.nc.close();
    store.users.update(userId, { capabilities: [] });
    const error = await rawConnect(
      natsConnectToken({
        seed: client.sessionKeySeed,
        iat: Math.floor(Date.now() / 1000),
        contractDigest: cli.CONTRACT_DIGEST,
      }),
    );
    expect(error).toBeInstanceOf(Error);
    expect(lastDecision()).toBe("insufficient_permissions");
  });
});

describe("inactive users", () => {
  it("denies a deactivated user's next connect with user_inactive", async () => {
    const { userId } = await platform.createUser({
      username: "leaver",
      password: "leaver-password-1",
      capabilities: ["trellis.core::catalog.read"],
    });
    const client = await TrellisClient.connect({
      trellisUrl: platform.url,
      contract: cli,
      logger: false,
      onAuthRequired: (info) => approveAs(info, "leaver", "leaver-password-1"),
    });
    await client.nc.close();
    platform.controlPlane.context.store.users.setActive(userId, false);
    const error = await rawConnect(
      natsConnectToken({
        seed: client.sessionKeySeed,
        iat: Math.floor(Date.now() / 1000),
        contractDigest: cli.CONTRACT_DIGEST,
      }),
    );
    expect(error).toBeInstanceOf(Error);
    expect(lastDecision()).toBe("user_inactive");
  });
});

describe("restart", () => {
  it("keeps users, grants and sessions, and connected clients carry on", async () => {
    const client = await signIn();
    opened.push(client.nc);
    expect((await client.rpc.auth.sessionsMe({})).isOk()).toBe(true);
    await platform.restartControlPlane();
    const deadline = Date.now() + 10_000;
    let me = await client.rpc.auth.sessionsMe({});
    while (me.isErr() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      me = await client.rpc.auth.sessionsMe({});
    }
    expect(me.isOk()).toBe(true);
    // The same session key signs in again without a new approval: the session and grant survived.
    const again = await TrellisClient.connect({
      trellisUrl: platform.url,
      contract: cli,
      sessionKeySeed: client.sessionKeySeed,
      logger: false,
      onAuthRequired: () => Promise.reject(new Error("a surviving session must not need a new login")),
    });
    opened.push(again.nc);
    expect((await again.rpc.auth.sessionsMe({})).isOk()).toBe(true);
  });
});
