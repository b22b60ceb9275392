import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  type Account,
  type AuthorizationRequest,
  decode,
  encodeAuthorizationResponse,
  encodeUser,
  type User,
} from "@nats-io/jwt";
import { fromSeed } from "@nats-io/nkeys";
import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadControlPlaneConfig } from "../src/config.js";
import {
  generateTopology,
  readTopology,
  type Topology,
  type TopologyFiles,
  type UserMaterial,
  writeControlPlaneConfig,
  writeTopology,
} from "../src/nats/index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const tempDirs: string[] = [];
const servers: NatsServerHandle[] = [];
const connections: NatsConnection[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

async function startServer(configFile: string): Promise<NatsServerHandle> {
  const server = await startNatsServer({ configFile });
  servers.push(server);
  return server;
}

function connectAs(server: NatsServerHandle, user: UserMaterial, name?: string): Promise<NatsConnection> {
  return connect({
    servers: server.url,
    authenticator: credsAuthenticator(encoder.encode(user.creds)),
    timeout: 5_000,
    reconnect: false,
    ...(name !== undefined && { name }),
  });
}

async function track(connection: Promise<NatsConnection>): Promise<NatsConnection> {
  const nc = await connection;
  connections.push(nc);
  return nc;
}

/** Resolves with the error a connection attempt failed with, or `"connected"` (the connection is closed in afterAll). */
async function connectOutcome(server: NatsServerHandle, user: UserMaterial, name?: string): Promise<unknown> {
  try {
    connections.push(await connectAs(server, user, name));
    return "connected";
  } catch (err) {
    return err;
  }
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);
}

/**
 * A minimal, test-only auth callout (the real one lives in src/callout): opens the sealed request,
 * admits connections named `admit-me` into TRELLIS with a narrow permission set and denies the rest.
 * Operator mode: the user JWT is issued by TRELLIS's signing key (`issuer_account` = TRELLIS), the
 * authorization response by AUTH's signing key (`issuer_account` = AUTH, `aud` = the server id).
 */
async function answerCallout(topology: Topology, msg: Msg): Promise<Partial<AuthorizationRequest>> {
  const serverXkey = msg.headers?.get("Nats-Server-Xkey");
  if (!serverXkey) throw new Error("callout request without Nats-Server-Xkey");
  const xkey = fromSeed(encoder.encode(topology.xkey.seed));
  const opened = xkey.open(msg.data, serverXkey);
  if (!opened) throw new Error("callout request could not be opened");
  const request = decode<AuthorizationRequest>(decoder.decode(opened)).nats;
  const userNkey = request.user_nkey;
  const serverId = request.server_id?.id;
  if (!userNkey || !serverId) throw new Error("callout request without user_nkey or server_id");
  if (request.server_id?.xkey !== serverXkey) throw new Error("server xkey mismatch");
  const { AUTH, TRELLIS } = topology.accounts;
  const response =
    request.connect_opts?.name === "admit-me"
      ? {
          jwt: await encodeUser(
            "test-client",
            userNkey,
            TRELLIS.publicKey,
            { pub: { allow: ["topology.allowed.>"] }, sub: { allow: ["_INBOX.>"] }, resp: { max: 1 } },
            { signer: TRELLIS.signingKey.seed, aud: "trellis", exp: Math.floor(Date.now() / 1000) + 3600 },
          ),
        }
      : { error: "session_not_found" };
  const responseJwt = await encodeAuthorizationResponse(userNkey, serverId, AUTH.publicKey, response, {
    signer: AUTH.signingKey.seed,
  });
  msg.respond(xkey.seal(encoder.encode(responseJwt), serverXkey));
  return request;
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await Promise.allSettled(servers.map((server) => server.stop()));
  await Promise.allSettled(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("generateTopology / writeTopology / readTopology", () => {
  let topology: Topology;
  let files: TopologyFiles;

  beforeAll(async () => {
    topology = await generateTopology({ operatorName: "trellis-test" });
    files = await writeTopology(await tempDir("trellis-topology-"), topology);
  });

  it("is plain JSON", () => {
    expect(JSON.parse(JSON.stringify(topology))).toEqual(topology);
  });

  it("uses the right key kinds", () => {
    expect(topology.operator.publicKey).toMatch(/^O/);
    expect(topology.operator.seed).toMatch(/^SO/);
    for (const account of Object.values(topology.accounts)) {
      expect(account.publicKey).toMatch(/^A/);
      expect(account.seed).toMatch(/^SA/);
      expect(account.signingKey.publicKey).toMatch(/^A/);
      expect(account.signingKey.publicKey).not.toBe(account.publicKey);
    }
    for (const user of Object.values(topology.users)) {
      expect(user.publicKey).toMatch(/^U/);
      expect(user.seed).toMatch(/^SU/);
      expect(user.creds).toContain(user.jwt);
      expect(user.creds).toContain(user.seed);
    }
    expect(topology.xkey.publicKey).toMatch(/^X/);
    expect(topology.xkey.seed).toMatch(/^SX/);
  });

  it("names SYS as the operator's system account", () => {
    const operator = decode<{ system_account: string }>(topology.operator.jwt);
    expect(operator.name).toBe("trellis-test");
    expect(operator.iss).toBe(topology.operator.publicKey);
    expect(operator.nats.system_account).toBe(topology.accounts.SYS.publicKey);
  });

  it("signs accounts with the operator and sets every limit explicitly", () => {
    const everyLimit = [
      "subs",
      "data",
      "payload",
      "imports",
      "exports",
      "wildcards",
      "conn",
      "leaf",
      "disallow_bearer",
      "mem_storage",
      "disk_storage",
      "streams",
      "consumer",
      "mem_max_stream_bytes",
      "disk_max_stream_bytes",
      "max_bytes_required",
      "max_ack_pending",
    ];
    for (const account of Object.values(topology.accounts)) {
      const claims = decode<Account>(account.jwt);
      expect(claims.iss).toBe(topology.operator.publicKey);
      expect(claims.sub).toBe(account.publicKey);
      expect(claims.name).toBe(account.name);
      expect(claims.nats.signing_keys).toEqual([account.signingKey.publicKey]);
      expect(Object.keys(claims.nats.limits ?? {}).sort()).toEqual([...everyLimit].sort());
    }
    for (const name of ["AUTH", "TRELLIS"] as const) {
      const limits = decode<Account>(topology.accounts[name].jwt).nats.limits;
      expect(limits).toMatchObject({
        mem_storage: -1,
        disk_storage: -1,
        streams: -1,
        consumer: -1,
        conn: -1,
      });
    }
  });

  it("puts the callout config on AUTH only", () => {
    const auth = decode<Account>(topology.accounts.AUTH.jwt);
    expect(auth.nats.authorization).toEqual({
      auth_users: [topology.users.authAuth.publicKey],
      allowed_accounts: [topology.accounts.TRELLIS.publicKey],
      xkey: topology.xkey.publicKey,
    });
    expect(decode<Account>(topology.accounts.TRELLIS.jwt).nats.authorization).toBeUndefined();
    expect(decode<Account>(topology.accounts.SYS.jwt).nats.authorization).toBeUndefined();
  });

  it("issues users with their account's signing key", () => {
    const expected = {
      sysSystem: ["SYS", "system"],
      authAuth: ["AUTH", "auth"],
      trellisAuth: ["TRELLIS", "auth"],
      sentinel: ["AUTH", "sentinel"],
    } as const;
    for (const [key, [accountName, userName]] of Object.entries(expected)) {
      const user = topology.users[key as keyof typeof expected];
      const account = topology.accounts[accountName];
      const claims = decode<User>(user.jwt);
      expect(user.account).toBe(accountName);
      expect(claims.name).toBe(userName);
      expect(claims.sub).toBe(user.publicKey);
      expect(claims.iss).toBe(account.signingKey.publicKey);
      expect(claims.nats.issuer_account).toBe(account.publicKey);
    }
    expect(decode<User>(topology.users.sentinel.jwt).nats).toMatchObject({
      pub: { deny: [">"] },
      sub: { deny: [">"] },
    });
    expect(decode<User>(topology.users.trellisAuth.jwt).nats).toMatchObject({
      pub: { allow: [">"] },
      sub: { allow: [">"] },
    });
  });

  it("writes secrets with mode 0600 and the seeds the control plane expects", async () => {
    const secrets = [
      files.operatorSeed,
      files.xkeySeed,
      ...Object.values(files.accountSeeds),
      ...Object.values(files.signingSeeds),
      ...Object.values(files.creds),
    ];
    for (const path of secrets) expect(await mode(path), path).toBe(0o600);
    expect(files.signingSeeds.AUTH).toBe(join(files.dir, "auth-issuer-signing.seed"));
    expect(files.signingSeeds.TRELLIS).toBe(join(files.dir, "auth-target-signing.seed"));
    expect(files.xkeySeed).toBe(join(files.dir, "auth-sx.seed"));
    expect((await readFile(files.signingSeeds.AUTH, "utf8")).trim()).toBe(
      topology.accounts.AUTH.signingKey.seed,
    );
    expect((await readFile(files.signingSeeds.TRELLIS, "utf8")).trim()).toBe(
      topology.accounts.TRELLIS.signingKey.seed,
    );
    expect((await readFile(files.xkeySeed, "utf8")).trim()).toBe(topology.xkey.seed);
    expect(await readFile(files.creds.sentinel, "utf8")).toBe(topology.users.sentinel.creds);
    expect(files.creds).toEqual({
      sysSystem: join(files.dir, "sys-system.creds"),
      authAuth: join(files.dir, "auth-auth.creds"),
      trellisAuth: join(files.dir, "trellis-auth.creds"),
      sentinel: join(files.dir, "sentinel.creds"),
    });
  });

  it("keeps secrets out of topology.json and the server configs", async () => {
    const seeds = [
      topology.operator.seed,
      topology.xkey.seed,
      ...Object.values(topology.accounts).flatMap((a) => [a.seed, a.signingKey.seed]),
      ...Object.values(topology.users).map((u) => u.seed),
    ];
    for (const path of [files.manifest, files.natsConf, files.fullResolverConfExample]) {
      const text = await readFile(path, "utf8");
      for (const seed of seeds) expect(text).not.toContain(seed);
    }
    const conf = await readFile(files.natsConf, "utf8");
    expect(conf).toContain("resolver: MEMORY");
    expect(conf).toContain(`system_account: ${topology.accounts.SYS.publicKey}`);
    expect(conf).not.toMatch(/^\s*(listen|port|host|http)\b/m);
  });

  it("reads back what it wrote", async () => {
    expect(await readTopology(files.dir)).toEqual(topology);
  });

  it("writes a control-plane config the config loader accepts", async () => {
    const configDir = await tempDir("trellis-cp-config-");
    const { path, config } = await writeControlPlaneConfig(configDir, topology, {
      natsUrl: "nats://127.0.0.1:4222",
      httpPort: 3100,
      dbPath: "./trellis.sqlite",
      webOrigins: ["http://localhost:5173"],
      topologyDir: files.dir,
    });
    expect(path).toBe(join(configDir, "trellis.jsonc"));
    expect(await mode(path)).toBe(0o600);
    const text = await readFile(path, "utf8");
    expect(text.startsWith("//")).toBe(true);
    expect(config.nats.authCallout.issuer.nkey).toBe(topology.accounts.AUTH.publicKey);
    expect(config.nats.authCallout.target.nkey).toBe(topology.accounts.TRELLIS.publicKey);

    const loaded = loadControlPlaneConfig(path, {});
    expect(loaded.nats.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect(loaded.nats.authCallout).toEqual({
      issuer: { nkey: topology.accounts.AUTH.publicKey, signingSeedFile: files.signingSeeds.AUTH },
      target: { nkey: topology.accounts.TRELLIS.publicKey, signingSeedFile: files.signingSeeds.TRELLIS },
      sxSeedFile: files.xkeySeed,
    });
    expect(loaded.nats.auth.credsPath).toBe(files.creds.authAuth);
    expect(loaded.nats.trellis.credsPath).toBe(files.creds.trellisAuth);
    expect(loaded.nats.system.credsPath).toBe(files.creds.sysSystem);
    expect(loaded.nats.sentinelCredsPath).toBe(files.creds.sentinel);
    expect(loaded.http.port).toBe(3100);
    expect(loaded.storage.dbPath).toBe(join(configDir, "trellis.sqlite"));
    expect(loaded.web.origins).toEqual(["http://localhost:5173"]);
  });
});

describe("nats-server in operator mode with the generated topology", () => {
  let topology: Topology;
  let server: NatsServerHandle;

  beforeAll(async () => {
    topology = await generateTopology();
    const files = await writeTopology(await tempDir("trellis-topology-"), topology);
    server = await startServer(files.natsConf);
  });

  it("lets TRELLIS/auth use JetStream (stream, acked publish, consumer)", async () => {
    const nc = await track(connectAs(server, topology.users.trellisAuth));
    const jsm = await jetstreamManager(nc);
    const info = await jsm.getAccountInfo();
    expect(info.limits.max_streams).toBe(-1);
    await jsm.streams.add({ name: "TOPOLOGY_TEST", subjects: ["topology.test.>"] });
    const js = jetstream(nc);
    const ack = await js.publish("topology.test.one", encoder.encode("hello"));
    expect(ack).toMatchObject({ stream: "TOPOLOGY_TEST", seq: 1 });
    await jsm.consumers.add("TOPOLOGY_TEST", { durable_name: "reader", ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get("TOPOLOGY_TEST", "reader");
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg?.string()).toBe("hello");
    msg?.ack();
  });

  it("lets AUTH/auth in without the callout, with JetStream", async () => {
    const nc = await track(connectAs(server, topology.users.authAuth));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "AUTH_TEST", subjects: ["auth.test.>"] });
    const ack = await jetstream(nc).publish("auth.test.one", encoder.encode("x"));
    expect(ack.stream).toBe("AUTH_TEST");
  });

  it("lets SYS/system ask the server system questions", async () => {
    const nc = await track(connectAs(server, topology.users.sysSystem));
    const reply = await nc.request("$SYS.REQ.SERVER.PING", undefined, { timeout: 5_000 });
    const body: unknown = reply.json();
    expect(body).toMatchObject({ server: { id: expect.stringMatching(/^N/) }, statsz: {} });
  });

  it("refuses the sentinel when no callout service answers", async () => {
    const started = Date.now();
    const attempt = connectOutcome(server, topology.users.sentinel);
    // The server gives up on the unanswered callout request (about 2 s) and drops the client.
    const outcome = await within(attempt, 15_000);
    expect(outcome).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("admits the sentinel into TRELLIS with the callout's permissions", async () => {
    const calloutNc = await track(connectAs(server, topology.users.authAuth));
    const requests: Partial<AuthorizationRequest>[] = [];
    const failures: unknown[] = [];
    const calloutSub: Subscription = calloutNc.subscribe("$SYS.REQ.USER.AUTH", {
      callback: (error, msg) => {
        if (error) {
          failures.push(error);
          return;
        }
        answerCallout(topology, msg).then(
          (request) => requests.push(request),
          (err: unknown) => failures.push(err),
        );
      },
    });
    try {
      const denied = await connectOutcome(server, topology.users.sentinel, "deny-me");
      expect(denied).toBeInstanceOf(AuthorizationError);

      const watcher = await track(connectAs(server, topology.users.trellisAuth));
      const seen: string[] = [];
      const watch = watcher.subscribe("topology.>", {
        callback: (_, m) => {
          seen.push(m.subject);
        },
      });
      await watcher.flush();

      const client = await track(connectAs(server, topology.users.sentinel, "admit-me"));
      client.publish("topology.denied", encoder.encode("no"));
      client.publish("topology.allowed.yes", encoder.encode("yes"));
      await client.flush();
      const until = Date.now() + 5_000;
      while (!seen.includes("topology.allowed.yes") && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Same publisher, in order: had the denied publish been delivered, it would have arrived first.
      expect(seen).toEqual(["topology.allowed.yes"]);
      watch.unsubscribe();

      expect(failures).toEqual([]);
      expect(requests.map((r) => r.connect_opts?.name)).toEqual(["deny-me", "admit-me"]);
      await client.close();
    } finally {
      calloutSub.unsubscribe();
    }
  });
});

describe("full resolver example", () => {
  it("boots and serves TRELLIS/auth with JetStream", async () => {
    const topology = await generateTopology();
    const files = await writeTopology(await tempDir("trellis-topology-"), topology);
    const server = await startServer(files.fullResolverConfExample);
    const nc = await track(connectAs(server, topology.users.trellisAuth));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "FULL_RESOLVER", subjects: ["full.>"] });
    const ack = await jetstream(nc).publish("full.one", encoder.encode("x"));
    expect(ack.seq).toBe(1);
  });
});
