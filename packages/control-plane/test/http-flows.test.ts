/**
 * Login flows, client sessions and the portal over the HTTP app, against a real SQLite file and real
 * NATS KV buckets. Connection kicking and event publishing are recorded (there is no callout here).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { BUILTIN_CONTRACTS, trellisCore } from "@trellis/builtin-contracts";
import {
  canonicalizeJson,
  defineAgentContract,
  defineAppContract,
  digestContractManifest,
} from "@trellis/contracts";
import { generateSessionSeed, oauthInitValue, sessionKeyFromSeed, signDomain } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import type { Hono } from "hono";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UserSessionDocumentSchema } from "../src/auth/user-session.js";
import { createDeploymentAuthority } from "../src/authority/index.js";
import { parseControlPlaneConfig } from "../src/config.js";
import { AUTH_BUCKETS, type ControlPlaneContext } from "../src/context.js";
import { createHttpApp } from "../src/http/app.js";
import type { HttpEnv } from "../src/http/env.js";
import { startHttpServer } from "../src/http/server.js";
import { identityGrantIdFor } from "../src/store/identity-grants-repository.js";
import { type ControlPlaneStore, openStore } from "../src/store/store.js";
import { ensureAdminBootstrap } from "../src/users/bootstrap.js";
import { createLocalUser } from "../src/users/local-accounts.js";
import { localLogin } from "../src/users/passwords.js";

const PASSWORD = "correct horse battery staple";
const CATALOG_READ = "trellis.core::catalog.read";
const PUBLIC_ORIGIN = "http://127.0.0.1:3000";
const WEB_ORIGIN = "https://app.example.com";
const CLI_REDIRECT = "/_trellis/portal/users/login";
const NKEY = `A${"A".repeat(55)}`;
const CATALOG_READ_METADATA = trellisCore.CONTRACT.capabilities?.[CATALOG_READ] ?? {
  displayName: "missing",
  description: "missing",
};

const cliContract = defineAgentContract({}, () => ({
  id: "catalog-cli@v1",
  displayName: "Catalog CLI",
  description: "Lists the contract catalog.",
  uses: { required: { core: trellisCore.use({ rpc: { call: ["Trellis.Catalog"] } }) } },
}));
const CLI_MANIFEST = cliContract.CONTRACT;
const CLI_DIGEST = cliContract.CONTRACT_DIGEST;

const webContract = defineAppContract({}, () => ({
  id: "catalog-web@v1",
  displayName: "Catalog <Web>",
  description: "Shows the contract catalog in a browser.",
  uses: { required: { core: trellisCore.use({ rpc: { call: ["Trellis.Catalog"] } }) } },
}));

let nats: NatsServerHandle;
let nc: NatsConnection;
let buckets: { pendingAuth: KV; browserFlows: KV; oauthStates: KV };
let dir: string;
let store: ControlPlaneStore;
let kicked: string[];
let revoked: { origin: string; id: string; sessionKey: string; revokedBy: string }[];

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  const kvm = new Kvm(nc);
  buckets = {
    pendingAuth: await kvm.create(AUTH_BUCKETS.pendingAuth, { history: 1, ttl: 5 * 60_000 }),
    browserFlows: await kvm.create(AUTH_BUCKETS.browserFlows, { history: 1, ttl: 30 * 60_000 }),
    oauthStates: await kvm.create(AUTH_BUCKETS.oauthStates, { history: 1, ttl: 5 * 60_000 }),
  };
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-http-flows-"));
  store = openStore(join(dir, "trellis.sqlite"));
  for (const module of BUILTIN_CONTRACTS) store.contracts.put(module.CONTRACT);
  kicked = [];
  revoked = [];
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

type ContextOptions = { webOrigins?: string[]; httpRateLimit?: number; publicOrigin?: string };

function makeContext(options: ContextOptions = {}): ControlPlaneContext {
  const config = parseControlPlaneConfig(
    {
      nats: {
        servers: nats.url,
        authCallout: {
          issuer: { nkey: NKEY, signingSeedFile: "issuer.seed" },
          target: { nkey: NKEY, signingSeedFile: "target.seed" },
          sxSeedFile: "sx.seed",
        },
        auth: { credsPath: "auth.creds" },
        trellis: { credsPath: "trellis.creds" },
        system: { credsPath: "system.creds" },
        sentinelCredsPath: "sentinel.creds",
      },
      storage: { dbPath: join(dir, "trellis.sqlite") },
      web: { origins: options.webOrigins ?? [WEB_ORIGIN] },
      httpRateLimit: options.httpRateLimit ?? 10_000,
    },
    { baseDir: dir },
  );
  return {
    config,
    store,
    logger: pino({ level: "silent" }),
    kv: buckets,
    connections: {
      kickSession: async (sessionKey) => {
        kicked.push(sessionKey);
        return 1;
      },
      list: async () => [],
      kick: async () => false,
    },
    events: {
      sessionRevoked: async (input) => {
        revoked.push(input);
      },
      connectionOpened: async () => undefined,
      connectionClosed: async () => undefined,
      connectionKicked: async () => undefined,
    },
    sentinel: { jwt: "sentinel.jwt", seed: "SUSENTINELSEED" },
    natsServers: [nats.url],
    publicOrigin: options.publicOrigin ?? PUBLIC_ORIGIN,
    ...createDeploymentAuthority({ store, nc, logger: pino({ level: "silent" }), now: () => new Date() }),
    now: () => new Date(),
  };
}

type App = Hono<HttpEnv>;
type Json = Record<string, any>;
type Reply = { status: number; body: Json; headers: Headers };

async function reply(res: Response): Promise<Reply> {
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

async function post(app: App, path: string, body: unknown, headers: Record<string, string> = {}) {
  return reply(
    await app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

async function get(app: App, path: string, headers: Record<string, string> = {}) {
  return reply(await app.request(path, { headers }));
}

type Client = { seed: string; sessionKey: string };

function newClient(): Client {
  const seed = generateSessionSeed();
  return { seed, sessionKey: sessionKeyFromSeed(seed) };
}

type RequestFields = {
  redirectTo: string;
  provider?: string;
  contract?: unknown;
  contractDigest?: string;
  context?: unknown;
};

function authRequestBody(client: Client, fields: RequestFields, signer: Client = client) {
  return {
    ...fields,
    sessionKey: client.sessionKey,
    sig: signDomain(signer.seed, "oauth-init", oauthInitValue(fields)),
  };
}

function startRequest(app: App, client: Client, fields: Partial<RequestFields> = {}) {
  return post(
    app,
    "/auth/requests",
    authRequestBody(client, { redirectTo: CLI_REDIRECT, contract: CLI_MANIFEST, ...fields }),
  );
}

function bind(app: App, flowId: string, client: Client, signer: Client = client) {
  return post(app, `/auth/flow/${flowId}/bind`, {
    sessionKey: client.sessionKey,
    sig: signDomain(signer.seed, "bind-flow", flowId),
  });
}

function loginLocal(app: App, flowId: string, username: string, password = PASSWORD) {
  return post(app, "/auth/login/local", { flowId, username, password });
}

function approve(app: App, flowId: string, approved = true) {
  return post(app, `/auth/flow/${flowId}/approval`, { approved });
}

async function createUser(username: string, capabilities: string[] = [CATALOG_READ]) {
  return (
    await createLocalUser(store, {
      username,
      password: PASSWORD,
      capabilities,
      email: `${username}@example.com`,
    })
  ).unwrap();
}

/** Runs request → login → approve → bind for `client`; returns the flow id and the bind reply. */
async function signInAndBind(
  app: App,
  client: Client,
  username: string,
  fields: Partial<RequestFields> = {},
) {
  const started = await startRequest(app, client, fields);
  expect(started.body.status).toBe("flow_started");
  const flowId: string = started.body.flowId;
  expect((await loginLocal(app, flowId, username)).status).toBe(200);
  expect((await approve(app, flowId)).status).toBe(200);
  const bound = await bind(app, flowId, client);
  return { flowId, bound };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

describe("detached CLI flow", () => {
  it("runs request → local login → consent → redirect → bind, and binds once", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    const client = newClient();

    const started = await startRequest(app, client);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ status: "flow_started" });
    const flowId: string = started.body.flowId;
    expect(flowId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(started.body.loginUrl).toBe(`${PUBLIC_ORIGIN}/_trellis/portal/users/login?flowId=${flowId}`);
    expect(store.contracts.has(CLI_DIGEST)).toBe(true);

    const choose = await get(app, `/auth/flow/${flowId}`);
    expect(choose.body).toMatchObject({
      status: "choose_provider",
      app: { contractId: "catalog-cli@v1", displayName: "Catalog CLI", participantKind: "agent" },
      providers: [{ id: "local" }],
    });
    expect((await bind(app, flowId, client)).body.reason).toBe("login_required");

    const login = await loginLocal(app, flowId, "ada");
    expect(login).toMatchObject({ status: 200, body: { status: "authenticated", flowId } });
    expect((await loginLocal(app, flowId, "ada")).body.reason).toBe("already_authenticated");

    const consent = await get(app, `/auth/flow/${flowId}`);
    expect(consent.body).toMatchObject({
      status: "approval_required",
      user: { userId: ada.userId, name: "ada" },
      approval: {
        contractDigest: CLI_DIGEST,
        contractId: "catalog-cli@v1",
        displayName: "Catalog CLI",
        description: "Lists the contract catalog.",
        participantKind: "agent",
        capabilities: {
          [CATALOG_READ]: CATALOG_READ_METADATA,
        },
      },
      publishSubjects: ["rpc.v1.Auth.Sessions.Logout", "rpc.v1.Auth.Sessions.Me", "rpc.v1.Trellis.Catalog"],
      subscribeSubjects: [],
    });
    const missingConsent = await bind(app, flowId, client);
    expect(missingConsent).toMatchObject({ status: 403, body: { reason: "approval_required" } });

    const approved = await approve(app, flowId);
    expect(approved.body).toMatchObject({ status: "redirect" });
    const redirect = await get(app, `/auth/flow/${flowId}`);
    expect(redirect.body).toEqual({
      status: "redirect",
      flowId,
      location: `${CLI_REDIRECT}?flowId=${flowId}`,
    });

    const bound = await bind(app, flowId, client);
    expect(bound.status).toBe(200);
    expect(bound.body).toMatchObject({
      status: "bound",
      inboxPrefix: `_INBOX.${client.sessionKey.slice(0, 16)}`,
      sentinel: { jwt: "sentinel.jwt", seed: "SUSENTINELSEED" },
      transports: { native: { natsServers: [nats.url] } },
    });
    expect(Date.parse(bound.body.expires)).toBeGreaterThan(Date.now() + 23 * 3600_000);

    const again = await bind(app, flowId, client);
    expect(again).toMatchObject({ status: 400, body: { reason: "authtoken_already_used" } });
    expect((await get(app, `/auth/flow/${flowId}`)).body.status).toBe("redirect");
    expect(kicked).toEqual([]);
  });

  it("writes the session document and the identity grant at bind", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    const client = newClient();
    const { bound } = await signInAndBind(app, client, "ada");
    expect(bound.body.status).toBe("bound");

    const anchor = {
      kind: "cli" as const,
      contractId: "catalog-cli@v1",
      sessionPublicKey: client.sessionKey,
    };
    const grant = store.identityGrants.find(ada.userId, anchor);
    expect(grant).toMatchObject({
      identityGrantId: identityGrantIdFor(ada.userId, anchor),
      origin: "local",
      externalId: "ada",
      evidenceContractDigest: CLI_DIGEST,
      participantKind: "agent",
      capabilities: [CATALOG_READ],
    });

    const session = store.sessions.get(client.sessionKey);
    expect(session).toMatchObject({
      type: "user",
      trellisId: ada.userId,
      origin: "local",
      externalId: "ada",
      contractDigest: CLI_DIGEST,
      contractId: "catalog-cli@v1",
      participantKind: "agent",
      identityGrantId: grant?.identityGrantId,
    });
    expect(UserSessionDocumentSchema.parse(session?.session)).toEqual({
      userId: ada.userId,
      identity: { identityId: expect.stringMatching(/^idn_/), provider: "local", subject: "ada" },
      participantKind: "agent",
      delegatedCapabilities: [CATALOG_READ],
      delegatedPublishSubjects: [
        "rpc.v1.Auth.Sessions.Logout",
        "rpc.v1.Auth.Sessions.Me",
        "rpc.v1.Trellis.Catalog",
      ],
      delegatedSubscribeSubjects: [],
      redirectTo: CLI_REDIRECT,
    });
  });

  it("answers a repeated request from a bound session with `bound`, without UX", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const client = newClient();
    await signInAndBind(app, client, "ada");

    const byManifest = await startRequest(app, client);
    expect(byManifest.body).toMatchObject({
      status: "bound",
      inboxPrefix: `_INBOX.${client.sessionKey.slice(0, 16)}`,
    });
    const byDigest = await startRequest(app, client, { contract: undefined, contractDigest: CLI_DIGEST });
    expect(byDigest.body.status).toBe("bound");
    // Another session key of the same user still needs its own flow (the CLI anchor is per key).
    expect((await startRequest(app, newClient())).body.status).toBe("flow_started");
  });

  it("resets a session key rebound to another identity and kicks its connections", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const carol = await createUser("carol");
    const client = newClient();
    await signInAndBind(app, client, "ada");
    expect(kicked).toEqual([]);

    // The key asks for another contract (its session does not cover it), and carol signs in.
    const { bound } = await signInAndBind(app, client, "carol", {
      redirectTo: "http://127.0.0.1:8080/cb",
      contract: webContract.CONTRACT,
    });
    expect(bound.body.status).toBe("bound");
    const session = store.sessions.get(client.sessionKey);
    expect(session).toMatchObject({ trellisId: carol.userId, contractId: "catalog-web@v1" });
    expect(kicked).toEqual([client.sessionKey]);
  });
});

describe("web flow", () => {
  it("anchors consent to the web origin and redirects back to the app", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    const client = newClient();
    const redirectTo = `${WEB_ORIGIN}/auth/callback`;
    const started = await startRequest(app, client, { redirectTo, contract: webContract.CONTRACT });
    expect(started.body.status).toBe("flow_started");
    const flowId: string = started.body.flowId;
    await loginLocal(app, flowId, "ada");
    expect((await get(app, `/auth/flow/${flowId}`)).body).toMatchObject({
      status: "approval_required",
      app: { origin: WEB_ORIGIN, participantKind: "app" },
    });
    expect((await approve(app, flowId)).body).toEqual({
      status: "redirect",
      flowId,
      location: `${redirectTo}?flowId=${flowId}`,
    });
    expect((await bind(app, flowId, client)).body.status).toBe("bound");

    const anchor = { kind: "web" as const, contractId: "catalog-web@v1", origin: WEB_ORIGIN };
    expect(store.identityGrants.find(ada.userId, anchor)?.participantKind).toBe("app");
    const document = UserSessionDocumentSchema.parse(store.sessions.get(client.sessionKey)?.session);
    expect(document).toMatchObject({ participantKind: "app", appOrigin: WEB_ORIGIN, redirectTo });

    // The web grant covers a new session key of the same app: it binds without consent.
    const other = newClient();
    const second = await startRequest(app, other, { redirectTo, contract: webContract.CONTRACT });
    await loginLocal(app, second.body.flowId, "ada");
    expect((await get(app, `/auth/flow/${second.body.flowId}`)).body.status).toBe("redirect");
    expect((await bind(app, second.body.flowId, other)).body.status).toBe("bound");
  });

  it("accepts loopback redirect targets that are not configured", async () => {
    const app = createHttpApp(makeContext({ webOrigins: [] }));
    const started = await startRequest(app, newClient(), {
      redirectTo: "http://localhost:5173/callback",
      contract: webContract.CONTRACT,
    });
    expect(started.body.status).toBe("flow_started");
  });
});

describe("POST /auth/requests refusals (auth §7 item 8)", () => {
  it("refuses bad signatures", async () => {
    const app = createHttpApp(makeContext());
    const client = newClient();
    const forged = authRequestBody(client, { redirectTo: CLI_REDIRECT, contract: CLI_MANIFEST }, newClient());
    expect(await post(app, "/auth/requests", forged)).toMatchObject({
      status: 400,
      body: { reason: "invalid_signature" },
    });
    // A signature over other fields (here: another redirect target) does not verify either.
    const body = authRequestBody(client, { redirectTo: CLI_REDIRECT, contract: CLI_MANIFEST });
    expect((await post(app, "/auth/requests", { ...body, redirectTo: "/elsewhere" })).body.reason).toBe(
      "invalid_signature",
    );
  });

  it.each([
    ["protocol-relative", "//evil.example.com/callback"],
    ["backslash protocol-relative", "/\\evil.example.com/callback"],
    ["non-http(s)", "javascript:alert(1)"],
    ["ftp", "ftp://app.example.com/file"],
    ["origin outside web.origins", "https://evil.example.com/callback"],
  ])("refuses a %s redirectTo", async (_label, redirectTo) => {
    const app = createHttpApp(makeContext());
    const refused = await startRequest(app, newClient(), { redirectTo });
    expect(refused).toMatchObject({ status: 400, body: { reason: "invalid_redirect_to" } });
  });

  it("refuses unknown providers", async () => {
    const app = createHttpApp(makeContext());
    const refused = await startRequest(app, newClient(), { provider: "github" });
    expect(refused).toMatchObject({ status: 400, body: { reason: "unknown_provider" } });
    expect((await startRequest(app, newClient(), { provider: "local" })).body.status).toBe("flow_started");
  });

  it("refuses service contracts and invalid manifests", async () => {
    const app = createHttpApp(makeContext());
    const service = await startRequest(app, newClient(), { contract: trellisCore.CONTRACT });
    expect(service).toMatchObject({ status: 409, body: { reason: "contract_kind_not_allowed" } });
    const invalid = await startRequest(app, newClient(), { contract: { format: "nope", id: "x@v1" } });
    expect(invalid).toMatchObject({ status: 409, body: { reason: "invalid_manifest" } });
  });

  it("refuses a used contract that is not installed", async () => {
    const app = createHttpApp(makeContext());
    const manifest = {
      ...CLI_MANIFEST,
      id: "orphan-cli@v1",
      uses: { required: { orders: { contract: "orders@v1", rpc: { call: ["Orders.Get"] } } } },
    };
    const refused = await startRequest(app, newClient(), { contract: manifest });
    expect(refused).toMatchObject({ status: 409, body: { reason: "contract_dependency_unresolved" } });
    expect(store.contracts.has(digestContractManifest(manifest))).toBe(false);
  });

  it("requires the manifest for unknown digests and refuses digest mismatches", async () => {
    const app = createHttpApp(makeContext());
    const unknownDigest = digestContractManifest({ ...CLI_MANIFEST, id: "other-cli@v1" });
    const digestOnly = await startRequest(app, newClient(), {
      contract: undefined,
      contractDigest: unknownDigest,
    });
    expect(digestOnly).toMatchObject({ status: 409, body: { reason: "manifest_required" } });

    const mismatch = await startRequest(app, newClient(), { contractDigest: unknownDigest });
    expect(mismatch).toMatchObject({ status: 409, body: { reason: "contract_digest_mismatch" } });
    expect(store.contracts.has(CLI_DIGEST)).toBe(false);

    // Once the manifest is known, the digest alone suffices.
    expect((await startRequest(app, newClient())).body.status).toBe("flow_started");
    const known = await startRequest(app, newClient(), { contract: undefined, contractDigest: CLI_DIGEST });
    expect(known.body.status).toBe("flow_started");
  });

  it("names the bad field of malformed requests", async () => {
    const app = createHttpApp(makeContext());
    const client = newClient();
    const body = authRequestBody(client, { redirectTo: CLI_REDIRECT, contract: CLI_MANIFEST });
    const refused = await post(app, "/auth/requests", { ...body, sessionKey: "short" });
    expect(refused).toMatchObject({ status: 400, body: { reason: "invalid_request", field: "sessionKey" } });
    expect((await post(app, "/auth/requests", "{not json")).body.reason).toBe("invalid_request");
  });
});

describe("bind refusals (auth §7 item 9)", () => {
  async function approvedFlow(app: App, client: Client, username = "ada") {
    const started = await startRequest(app, client);
    const flowId: string = started.body.flowId;
    await loginLocal(app, flowId, username);
    return flowId;
  }

  it("refuses another session key and a bad bind-flow signature", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const client = newClient();
    const flowId = await approvedFlow(app, client);
    await approve(app, flowId);

    const other = newClient();
    expect(await bind(app, flowId, other)).toMatchObject({
      status: 400,
      body: { reason: "session_key_mismatch" },
    });
    expect(await bind(app, flowId, client, other)).toMatchObject({
      status: 400,
      body: { reason: "invalid_signature" },
    });
    const wrongValue = await post(app, `/auth/flow/${flowId}/bind`, {
      sessionKey: client.sessionKey,
      sig: signDomain(client.seed, "bind-flow", `${flowId}x`),
    });
    expect(wrongValue.body.reason).toBe("invalid_signature");
    // The refusals did not consume the pending auth.
    expect((await bind(app, flowId, client)).body.status).toBe("bound");
  });

  it("refuses denied consent without persisting it", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    const client = newClient();
    const flowId = await approvedFlow(app, client);
    expect((await approve(app, flowId, false)).body).toEqual({ status: "approval_denied", flowId });
    expect((await get(app, `/auth/flow/${flowId}`)).body.status).toBe("approval_denied");
    expect(await bind(app, flowId, client)).toMatchObject({
      status: 403,
      body: { reason: "approval_denied" },
    });
    expect(store.identityGrants.listByUser(ada.userId)).toEqual([]);
  });

  it("answers insufficient capabilities with what is missing", async () => {
    const app = createHttpApp(makeContext());
    await createUser("bob", ["something.else::read"]);
    const client = newClient();
    const flowId = await approvedFlow(app, client, "bob");
    expect((await get(app, `/auth/flow/${flowId}`)).body).toMatchObject({
      status: "insufficient_capabilities",
      missingCapabilities: [CATALOG_READ],
      userCapabilities: ["something.else::read"],
    });
    expect(await approve(app, flowId)).toMatchObject({
      status: 403,
      body: { reason: "insufficient_capabilities" },
    });
    const bound = await bind(app, flowId, client);
    expect(bound).toMatchObject({
      status: 200,
      body: {
        status: "insufficient_capabilities",
        approval: { contractId: "catalog-cli@v1" },
        missingCapabilities: [CATALOG_READ],
        userCapabilities: ["something.else::read"],
      },
    });
    expect(store.sessions.get(client.sessionKey)).toBeUndefined();
  });

  it("refuses users deactivated after consent", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    const client = newClient();
    const flowId = await approvedFlow(app, client);
    await approve(app, flowId);
    store.users.setActive(ada.userId, false).unwrap();
    expect((await get(app, `/auth/flow/${flowId}`)).body.status).toBe("user_inactive");
    expect(await bind(app, flowId, client)).toMatchObject({ status: 403, body: { reason: "user_inactive" } });
  });

  it("answers expired for unknown flows", async () => {
    const app = createHttpApp(makeContext());
    const client = newClient();
    const flowId = "01J0000000000000000000000Z";
    expect(await bind(app, flowId, client)).toMatchObject({ status: 200, body: { status: "expired" } });
    expect((await get(app, `/auth/flow/${flowId}`)).body).toEqual({ status: "expired" });
    expect((await get(app, "/auth/flow/not.a.key")).body).toEqual({ status: "expired" });
  });
});

describe("consent body (auth §7 item 12)", () => {
  it.each([
    ["a string", { approved: "yes" }],
    ["extra fields", { approved: true, capabilities: ["admin"] }],
    ["no field", {}],
    ["an array", [true]],
    ["null", null],
  ])("refuses %s", async (_label, body) => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const started = await startRequest(app, newClient());
    await loginLocal(app, started.body.flowId, "ada");
    const refused = await post(app, `/auth/flow/${started.body.flowId}/approval`, body);
    expect(refused).toMatchObject({ status: 400, body: { reason: "invalid_request" } });
    expect((await get(app, `/auth/flow/${started.body.flowId}`)).body.status).toBe("approval_required");
  });

  it("refuses portal calls from other origins", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const started = await startRequest(app, newClient());
    const flowId: string = started.body.flowId;
    const foreign = { Origin: "https://evil.example.com" };
    const login = await post(
      app,
      "/auth/login/local",
      { flowId, username: "ada", password: PASSWORD },
      foreign,
    );
    expect(login).toMatchObject({ status: 403, body: { reason: "invalid_origin" } });
    const portal = { Origin: PUBLIC_ORIGIN };
    expect(
      (await post(app, "/auth/login/local", { flowId, username: "ada", password: PASSWORD }, portal)).status,
    ).toBe(200);
    expect(await post(app, `/auth/flow/${flowId}/approval`, { approved: true }, foreign)).toMatchObject({
      status: 403,
      body: { reason: "invalid_origin" },
    });
  });
});

describe("local login", () => {
  it("locks the account after five wrong passwords", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const started = await startRequest(app, newClient());
    const flowId: string = started.body.flowId;
    expect(await loginLocal(app, flowId, "nobody")).toMatchObject({
      status: 403,
      body: { reason: "invalid_credentials" },
    });
    for (let attempt = 0; attempt < 5; attempt += 1) {
      expect((await loginLocal(app, flowId, "ada", "wrong password!")).body.reason).toBe(
        "invalid_credentials",
      );
    }
    expect(await loginLocal(app, flowId, "ada")).toMatchObject({
      status: 403,
      body: { reason: "account_locked" },
    });
    expect((await get(app, `/auth/flow/${flowId}`)).body.status).toBe("choose_provider");
  });

  it("refuses inactive users and expired flows", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    store.users.setActive(ada.userId, false).unwrap();
    const started = await startRequest(app, newClient());
    expect(await loginLocal(app, started.body.flowId, "ada")).toMatchObject({
      status: 403,
      body: { reason: "user_inactive" },
    });
    expect(await loginLocal(app, "01J0000000000000000000000Z", "ada")).toMatchObject({
      status: 410,
      body: { reason: "flow_expired" },
    });
  });
});

describe("POST /bootstrap/client", () => {
  function bootstrap(app: App, client: Client, iat = nowSeconds(), signer: Client = client) {
    return post(app, "/bootstrap/client", {
      sessionKey: client.sessionKey,
      iat,
      sig: signDomain(signer.seed, "bootstrap-client", String(iat)),
    });
  }

  it("hands a bound session its connect info", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    const client = newClient();
    await signInAndBind(app, client, "ada");
    const ready = await bootstrap(app, client);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: "ready",
      connectInfo: {
        sessionKey: client.sessionKey,
        contractId: "catalog-cli@v1",
        contractDigest: CLI_DIGEST,
        transports: { native: { natsServers: [nats.url] } },
        transport: {
          inboxPrefix: `_INBOX.${client.sessionKey.slice(0, 16)}`,
          sentinel: { jwt: "sentinel.jwt", seed: "SUSENTINELSEED" },
        },
      },
      user: {
        userId: ada.userId,
        identity: { provider: "local", subject: "ada" },
        email: "ada@example.com",
        name: "ada",
      },
      binding: {
        contractId: "catalog-cli@v1",
        digest: CLI_DIGEST,
        capabilities: [CATALOG_READ],
        publishSubjects: ["rpc.v1.Auth.Sessions.Logout", "rpc.v1.Auth.Sessions.Me", "rpc.v1.Trellis.Catalog"],
        subscribeSubjects: [],
      },
    });
    expect(Math.abs(ready.body.serverNow - nowSeconds())).toBeLessThanOrEqual(1);
  });

  it("asks unknown and invalidated sessions to log in again", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    expect((await bootstrap(app, newClient())).body.status).toBe("auth_required");

    const client = newClient();
    await signInAndBind(app, client, "ada");
    store.users.update(ada.userId, { capabilities: [] }).unwrap();
    const required = await bootstrap(app, client);
    expect(required).toMatchObject({ status: 200, body: { status: "auth_required" } });
    expect(store.sessions.get(client.sessionKey)).toBeUndefined();
  });

  it("refuses stale iat (with serverNow) and bad signatures", async () => {
    const app = createHttpApp(makeContext());
    const client = newClient();
    const stale = await bootstrap(app, client, nowSeconds() - 31);
    expect(stale).toMatchObject({ status: 400, body: { reason: "iat_out_of_range" } });
    expect(Math.abs(stale.body.serverNow - nowSeconds())).toBeLessThanOrEqual(1);
    expect((await bootstrap(app, client, nowSeconds() + 31)).body.reason).toBe("iat_out_of_range");
    expect(await bootstrap(app, client, nowSeconds(), newClient())).toMatchObject({
      status: 400,
      body: { reason: "invalid_signature" },
    });
  });
});

describe("POST /auth/sessions/logout (auth §7 item 10)", () => {
  function logout(
    app: App,
    client: Client,
    fields: { iat?: number; returnTo?: string; responseMode?: "json" | "redirect" } = {},
    signer: Client = client,
  ) {
    const signed = { iat: fields.iat ?? nowSeconds(), ...fields };
    return post(app, "/auth/sessions/logout", {
      sessionKey: client.sessionKey,
      ...signed,
      sig: signDomain(signer.seed, "logout-session", canonicalizeJson(signed)),
    });
  }

  it("deletes the session, kicks its connections and publishes the revocation", async () => {
    const app = createHttpApp(makeContext());
    const ada = await createUser("ada");
    const client = newClient();
    await signInAndBind(app, client, "ada");
    expect(await logout(app, client)).toMatchObject({ status: 200, body: { success: true } });
    expect(store.sessions.get(client.sessionKey)).toBeUndefined();
    expect(kicked).toEqual([client.sessionKey]);
    expect(revoked).toEqual([
      // The session's own origin and external id: the local provider and the username.
      { origin: "local", id: "ada", sessionKey: client.sessionKey, revokedBy: ada.userId },
    ]);
    expect(await logout(app, client)).toMatchObject({
      status: 401,
      body: { reason: "logout_session_not_found" },
    });
  });

  it("refuses bad signatures, stale iat and malformed requests", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const client = newClient();
    await signInAndBind(app, client, "ada");
    expect(await logout(app, client, {}, newClient())).toMatchObject({
      status: 401,
      body: { reason: "invalid_logout_signature" },
    });
    const stale = await logout(app, client, { iat: nowSeconds() - 31 });
    expect(stale).toMatchObject({ status: 400, body: { reason: "iat_out_of_range" } });
    expect(typeof stale.body.serverNow).toBe("number");
    const malformed = await post(app, "/auth/sessions/logout", { sessionKey: client.sessionKey });
    expect(malformed).toMatchObject({ status: 400, body: { reason: "invalid_logout_request" } });
    expect(store.sessions.get(client.sessionKey)).toBeDefined();
  });

  it("accepts returnTo only on the bound app origin", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const cli = newClient();
    await signInAndBind(app, cli, "ada");
    expect(await logout(app, cli, { returnTo: `${WEB_ORIGIN}/bye` })).toMatchObject({
      status: 400,
      body: { reason: "invalid_return_to" },
    });

    const web = newClient();
    await signInAndBind(app, web, "ada", { redirectTo: `${WEB_ORIGIN}/cb`, contract: webContract.CONTRACT });
    expect((await logout(app, web, { returnTo: "https://evil.example.com/bye" })).body.reason).toBe(
      "invalid_return_to",
    );
    const redirected = await logout(app, web, { returnTo: `${WEB_ORIGIN}/bye`, responseMode: "redirect" });
    expect(redirected.status).toBe(303);
    expect(redirected.headers.get("location")).toBe(`${WEB_ORIGIN}/bye`);
    expect(store.sessions.get(web.sessionKey)).toBeUndefined();
  });

  it("never accepts returnTo through a wildcard origin", async () => {
    const app = createHttpApp(makeContext({ webOrigins: ["*"] }));
    await createUser("ada");
    const web = newClient();
    const redirectTo = "https://anywhere.example.net/cb";
    const { bound } = await signInAndBind(app, web, "ada", { redirectTo, contract: webContract.CONTRACT });
    expect(bound.body.status).toBe("bound");
    expect((await logout(app, web, { returnTo: "https://anywhere.example.net/bye" })).body.reason).toBe(
      "invalid_return_to",
    );
  });
});

describe("admin bootstrap account flow", () => {
  it("sets the admin password once", async () => {
    const app = createHttpApp(makeContext());
    const status = ensureAdminBootstrap(store, { publicOrigin: PUBLIC_ORIGIN });
    if (status.status !== "bootstrap_required") throw new Error("expected a bootstrap flow");
    const { flowId } = status;

    expect((await get(app, `/auth/account-flow/${flowId}`)).body).toMatchObject({
      status: "password_required",
      kind: "local_password_reset",
      username: "admin",
      bootstrap: true,
      passwordMinLength: 12,
    });
    const page = await app.request(`/_trellis/portal/account/password?flowId=${flowId}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Set up the administrator");

    const path = `/auth/account-flow/${flowId}/local-password`;
    expect(await post(app, path, { password: "short" })).toMatchObject({
      status: 400,
      body: { reason: "password_too_short" },
    });
    expect(await post(app, path, { password: PASSWORD })).toMatchObject({
      status: 200,
      body: { status: "password_set", userId: status.userId, username: "admin" },
    });
    expect(await post(app, path, { password: "another long password" })).toMatchObject({
      status: 410,
      body: { reason: "flow_consumed" },
    });
    expect((await get(app, `/auth/account-flow/${flowId}`)).status).toBe(410);
    expect((await get(app, "/auth/account-flow/unknown")).body.reason).toBe("flow_not_found");
    expect((await localLogin(store, "admin", PASSWORD)).unwrap().active).toBe(true);
  });
});

describe("built-in portal", () => {
  function form(app: App, path: string, fields: Record<string, string>) {
    return app.request(path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: PUBLIC_ORIGIN },
      body: new URLSearchParams(fields).toString(),
    });
  }

  it("signs in, asks for consent and sends the user back to the terminal", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const client = newClient();
    const flowId: string = (await startRequest(app, client)).body.flowId;
    const pagePath = `/_trellis/portal/users/login?flowId=${flowId}`;

    const signIn = await app.request(pagePath);
    expect(signIn.headers.get("content-type")).toContain("text/html");
    const signInHtml = await signIn.text();
    expect(signInHtml).toContain('<html lang="en">');
    expect(signInHtml).toContain('<label for="username">');
    expect(signInHtml).toContain('action="/_trellis/portal/users/login"');
    expect(signInHtml).not.toContain("<script");

    const wrong = await form(app, "/_trellis/portal/users/login", {
      flowId,
      username: "ada",
      password: "nope",
    });
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).toContain('role="alert"');

    const signedIn = await form(app, "/_trellis/portal/users/login", {
      flowId,
      username: "ada",
      password: PASSWORD,
    });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get("location")).toBe(pagePath);

    const consent = await (await app.request(pagePath)).text();
    expect(consent).toContain("Allow Catalog CLI?");
    expect(consent).toContain(CATALOG_READ_METADATA.displayName);
    expect(consent).toContain(CATALOG_READ_METADATA.description);
    expect(consent).toContain('value="approve"');
    expect(consent).toContain('value="deny"');

    const approved = await form(app, "/_trellis/portal/users/approval", { flowId, decision: "approve" });
    expect(approved.status).toBe(303);
    const done = await (await app.request(pagePath)).text();
    expect(done).toContain("return to your terminal");
    expect((await bind(app, flowId, client)).body.status).toBe("bound");
    expect(await (await app.request(pagePath)).text()).toContain("return to your terminal");
  });

  it("escapes contract text and links web apps back", async () => {
    const app = createHttpApp(makeContext());
    await createUser("ada");
    const redirectTo = `${WEB_ORIGIN}/cb`;
    const flowId: string = (
      await startRequest(app, newClient(), { redirectTo, contract: webContract.CONTRACT })
    ).body.flowId;
    const pagePath = `/_trellis/portal/users/login?flowId=${flowId}`;
    await form(app, "/_trellis/portal/users/login", { flowId, username: "ada", password: PASSWORD });
    const consent = await (await app.request(pagePath)).text();
    expect(consent).toContain("Catalog &lt;Web&gt;");
    expect(consent).not.toContain("Catalog <Web>");

    await form(app, "/_trellis/portal/users/approval", { flowId, decision: "deny" });
    const denied = await (await app.request(pagePath)).text();
    expect(denied).toContain("Access denied");
    expect(denied).toContain(`href="${redirectTo}?flowId=${flowId}&amp;authError=approval_denied"`);
  });

  it("renders expired flows and refuses foreign form posts", async () => {
    const app = createHttpApp(makeContext());
    const expired = await app.request("/_trellis/portal/users/login?flowId=01J0000000000000000000000Z");
    expect(await expired.text()).toContain("This sign-in has expired");
    const foreign = await app.request("/_trellis/portal/users/approval", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example.com" },
      body: "flowId=x&decision=approve",
    });
    expect(foreign.status).toBe(403);
    const css = await app.request("/_trellis/portal/assets/portal.css");
    expect(css.headers.get("content-type")).toContain("text/css");
  });
});

describe("HTTP plumbing", () => {
  it("sets security headers, and HSTS only for https public origins", async () => {
    const app = createHttpApp(makeContext(), { version: "1.2.3" });
    const version = await get(app, "/version");
    expect(version.body).toEqual({ version: "1.2.3" });
    expect(version.headers.get("content-security-policy")).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    expect(version.headers.get("x-content-type-options")).toBe("nosniff");
    expect(version.headers.get("referrer-policy")).toBe("same-origin");
    expect(version.headers.get("x-frame-options")).toBe("DENY");
    expect(version.headers.get("strict-transport-security")).toBeNull();

    const https = createHttpApp(makeContext({ publicOrigin: "https://trellis.example.com" }));
    expect((await get(https, "/version")).headers.get("strict-transport-security")).toContain("max-age=");
  });

  it("answers CORS for configured origins only", async () => {
    const app = createHttpApp(makeContext());
    const allowed = await get(app, "/auth/flow/01J0000000000000000000000Z", { Origin: WEB_ORIGIN });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(WEB_ORIGIN);
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    const refused = await get(app, "/auth/flow/01J0000000000000000000000Z", {
      Origin: "https://evil.example.com",
    });
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();

    const preflight = await app.request("/auth/requests", {
      method: "OPTIONS",
      headers: { Origin: WEB_ORIGIN, "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");

    const wildcard = createHttpApp(makeContext({ webOrigins: ["*"] }));
    const any = await get(wildcard, "/auth/flow/01J0000000000000000000000Z", {
      Origin: "https://x.example.org",
    });
    expect(any.headers.get("access-control-allow-origin")).toBe("*");
    expect(any.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("rate-limits /auth/* per address with retry-after", async () => {
    const app = createHttpApp(makeContext({ httpRateLimit: 3 }));
    for (let i = 0; i < 3; i += 1)
      expect((await get(app, "/auth/flow/01J0000000000000000000000Z")).status).toBe(200);
    const limited = await get(app, "/auth/flow/01J0000000000000000000000Z");
    expect(limited.status).toBe(429);
    expect(limited.body.reason).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await get(app, "/version")).status).toBe(200);
  });

  it("serves health and metrics over real HTTP", async () => {
    const app = createHttpApp(makeContext(), { metrics: async () => "trellis_up 1\n" });
    const server = await startHttpServer(app);
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok", checks: { store: "ok" } });
      const metrics = await fetch(`${server.url}/metrics`);
      expect(await metrics.text()).toBe("trellis_up 1\n");
      expect(metrics.headers.get("content-type")).toContain("text/plain");

      const client = newClient();
      const started = await fetch(`${server.url}/auth/requests`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(authRequestBody(client, { redirectTo: CLI_REDIRECT, contract: CLI_MANIFEST })),
      });
      expect(((await started.json()) as Json).status).toBe("flow_started");
    } finally {
      await server.close();
    }
    const withoutMetrics = createHttpApp(makeContext());
    expect((await get(withoutMetrics, "/metrics")).status).toBe(404);
  });
});
