import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trellisState } from "@trellis/builtin-contracts";
import { defineAppContract, defineDeviceContract } from "@trellis/contracts";
import { type BaseError, type Result, UnexpectedError } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Caller, InMemorySessionAuthority } from "../src/auth/caller.js";
import { ServerClock } from "../src/auth/clock.js";
import { AuthError, ValidationError } from "../src/errors/errors.js";
import { ProofCallerAuthenticator } from "../src/rpc/authenticator.js";
import { RpcClient } from "../src/rpc/client.js";
import { RpcServer } from "../src/rpc/server.js";
import {
  encodeStateComponent,
  joinStatePath,
  type MapStateStore,
  STATE_BUCKET,
  StateClient,
  type StateEntry,
  type StateMigration,
  StateServer,
  stateEntryKey,
  stateStoresFromContracts,
  type ValueStateStore,
} from "../src/state/index.js";
import { resolveLogger } from "../src/telemetry/logger.js";
import { SchemaSet } from "../src/validation/schemas.js";

const Prefs = z.object({ theme: z.enum(["light", "dark"]) });
const Draft = z.object({ title: z.string().min(1), body: z.string() });
const DraftV1 = z.object({ text: z.string() });
type Prefs = z.infer<typeof Prefs>;
type Draft = z.infer<typeof Draft>;

const app = defineAppContract({ schemas: { Prefs, Draft, DraftV1 } }, (ref) => ({
  id: "notes.app@v1",
  displayName: "Notes",
  description: "Takes notes.",
  state: {
    prefs: { kind: "value", schema: ref.schema("Prefs") },
    drafts: {
      kind: "map",
      schema: ref.schema("Draft"),
      stateVersion: "v2",
      acceptedVersions: { v1: ref.schema("DraftV1") },
    },
  },
}));

const device = defineDeviceContract(
  { schemas: { Calibration: z.object({ offset: z.number() }) } },
  (ref) => ({
    id: "sensor@v1",
    displayName: "Sensor",
    description: "Measures.",
    state: { calibration: { kind: "value", schema: ref.schema("Calibration") } },
  }),
);

const logger = resolveLogger(false);
const stateSchemas = SchemaSet.of(trellisState.CONTRACT);
const stateRpc = trellisState.API.owned.rpc;
const authority = new InMemorySessionAuthority();

let server: NatsServerHandle;
let serviceConn: NatsConnection;
let raw: KV;
let rpcServer: RpcServer;
const connections: NatsConnection[] = [];

interface Participant {
  rpc: RpcClient;
  state: StateClient;
}

async function participant(caller: Caller, contract: typeof app | typeof device = app): Promise<Participant> {
  const seed = generateSessionSeed();
  const key = sessionKeyFromSeed(seed);
  const inboxPrefix = `_INBOX.${key.slice(0, 16)}`;
  authority.register(key, { caller, inboxPrefix });
  const nc = await connect({ servers: server.url, inboxPrefix });
  connections.push(nc);
  const rpc = new RpcClient({ nc, seed, clock: new ServerClock() });
  return { rpc, state: new StateClient({ rpc, contract, stateContract: trellisState, stateSchemas }) };
}

function appUser(id: string, capabilities: string[] = []): Caller {
  return { type: "user", id, capabilities, contractId: app.CONTRACT_ID, contractDigest: app.CONTRACT_DIGEST };
}

let ada: Participant;
let bob: Participant;
let admin: Participant;
let prefs: ValueStateStore<Prefs>;
let drafts: MapStateStore<Draft>;

function keysOf(entries: (StateEntry<unknown> | StateMigration)[]): (string | undefined)[] {
  return entries.map((e) => ("migrationRequired" in e ? e.entry.key : e.key));
}

async function bucketKeys(): Promise<string[]> {
  const out: string[] = [];
  for await (const key of await raw.keys()) out.push(key);
  return out;
}

beforeAll(async () => {
  server = await startNatsServer();
  serviceConn = await connect({ servers: server.url });
  // The platform's part: the bucket exists before the state service binds to it.
  raw = await new Kvm(serviceConn).create(STATE_BUCKET, { history: 1 });
  rpcServer = new RpcServer({
    nc: serviceConn,
    contract: trellisState,
    schemas: stateSchemas,
    authenticator: new ProofCallerAuthenticator({ authority }),
    serviceName: "trellis",
    logger,
  });
  new StateServer({
    nc: serviceConn,
    resolveStore: stateStoresFromContracts([app, device]),
    resolveUserId: ({ origin, id }) => (origin === "github" && id === "ada" ? "usr_ada" : undefined),
    logger,
  }).mount(rpcServer);
  await serviceConn.flush();
  ada = await participant(appUser("usr_ada"));
  bob = await participant(appUser("usr_bob"));
  admin = await participant(appUser("usr_admin", ["admin"]));
  prefs = ada.state.value<Prefs>("prefs");
  drafts = ada.state.map<Draft>("drafts");
});

afterAll(async () => {
  await rpcServer?.stop();
  await Promise.all([serviceConn, ...connections].map((nc) => nc?.close()));
  await server?.stop();
});

describe("namespacing", () => {
  it("encodes components: bytes outside [A-Za-z0-9_/-] become =HH", () => {
    expect(encodeStateComponent("notes.app@v1")).toBe("notes=2Eapp=40v1");
    expect(encodeStateComponent("a/b c=é")).toBe("a/b=20c=3D=C3=A9");
    expect(
      stateEntryKey({ ownerType: "user", ownerId: "usr_1", contractId: "notes.app@v1", store: "prefs" }),
    ).toBe("user.usr_1.notes=2Eapp=40v1.prefs.=value");
  });

  it("joins path segments", () => {
    expect(joinStatePath("a/", "/b", "c")).toBe("a/b/c");
  });

  it("exposes one handle per declared store", () => {
    expect(Object.keys(ada.state.state).sort()).toEqual(["drafts", "prefs"]);
    expect(ada.state.state.prefs?.kind).toBe("value");
    expect(() => ada.state.map("prefs")).toThrow();
  });
});

describe("value stores", () => {
  it("reads, writes and deletes the caller's own value", async () => {
    expect(await prefs.get().unwrap()).toEqual({ found: false });
    const put = await prefs.put({ theme: "dark" }).unwrap();
    expect(put).toMatchObject({ applied: true, entry: { value: { theme: "dark" } } });
    const read = await prefs.get().unwrap();
    expect(read).toMatchObject({ found: true, entry: { value: { theme: "dark" } } });
    expect("entry" in read && read.entry.key).toBeUndefined();
    expect(await bucketKeys()).toContain("user.usr_ada.notes=2Eapp=40v1.prefs.=value");
    // Another user of the same app has their own scope.
    expect(await bob.state.value("prefs").get().unwrap()).toEqual({ found: false });
    expect(await prefs.delete().unwrap()).toEqual({ deleted: true });
    expect(await prefs.delete().unwrap()).toEqual({ deleted: false });
    expect(await prefs.get().unwrap()).toEqual({ found: false });
  });

  it("stores the stamped envelope", async () => {
    await prefs.put({ theme: "light" }).unwrap();
    const entry = await raw.get("user.usr_ada.notes=2Eapp=40v1.prefs.=value");
    expect(entry?.json()).toEqual({
      value: { theme: "light" },
      updatedAt: expect.any(String),
      stateVersion: "v1",
      writerContractDigest: app.CONTRACT_DIGEST,
    });
  });

  it("validates before writing", async () => {
    const bad = await ada.state.value("prefs").put({ theme: "blue" });
    expect(bad.isErr() && bad.error).toBeInstanceOf(ValidationError);
    expect(await prefs.get().unwrap()).toMatchObject({ entry: { value: { theme: "light" } } });
  });

  it("serves devices in their own namespace", async () => {
    const sensor = await participant(
      {
        type: "device",
        id: "dev_1",
        capabilities: [],
        contractId: device.CONTRACT_ID,
        contractDigest: device.CONTRACT_DIGEST,
      },
      device,
    );
    await sensor.state.value("calibration").put({ offset: 1.5 }).unwrap();
    expect(await bucketKeys()).toContain("device.dev_1.sensor=40v1.calibration.=value");
    const read = await admin.rpc
      .request("State.Admin.Get", stateRpc["State.Admin.Get"]!, stateSchemas, {
        scope: "deviceApp",
        deviceId: "dev_1",
        contractId: device.CONTRACT_ID,
        contractDigest: device.CONTRACT_DIGEST,
        store: "calibration",
      })
      .unwrap();
    expect(read).toMatchObject({ found: true, entry: { value: { offset: 1.5 } } });
  });
});

describe("map stores", () => {
  it("reads, writes and lists in lexicographic order with paging", async () => {
    for (const key of ["z", "a/c", "a/b/2", "a/b/1"]) {
      await drafts.put(key, { title: key, body: "" }).unwrap();
    }
    expect(await drafts.get("a/b/1").unwrap()).toMatchObject({
      found: true,
      entry: { key: "a/b/1", value: { title: "a/b/1" } },
    });
    const all = await drafts.list().unwrap();
    expect(keysOf(all.entries)).toEqual(["a/b/1", "a/b/2", "a/c", "z"]);
    expect(all).toMatchObject({ count: 4, offset: 0, limit: 100 });
    expect(all.nextOffset).toBeUndefined();

    const first = await drafts.list({ limit: 2 }).unwrap();
    expect(keysOf(first.entries)).toEqual(["a/b/1", "a/b/2"]);
    expect(first.nextOffset).toBe(2);
    const second = await drafts.list({ limit: 2, offset: first.nextOffset }).unwrap();
    expect(keysOf(second.entries)).toEqual(["a/c", "z"]);
    expect(second.nextOffset).toBeUndefined();

    const underA = await drafts.list({ prefix: "a/b" }).unwrap();
    expect(keysOf(underA.entries)).toEqual(["a/b/1", "a/b/2"]);
    expect(keysOf((await bob.state.map("drafts").list().unwrap()).entries)).toEqual([]);
  });

  it("scopes a handle to a path prefix", async () => {
    const ab = drafts.prefix("a/b");
    expect(ab.path).toBe("a/b");
    expect(await ab.get("1").unwrap()).toMatchObject({ found: true, entry: { key: "1" } });
    await ab.put("3", { title: "three", body: "" }).unwrap();
    expect(await drafts.get("a/b/3").unwrap()).toMatchObject({ found: true });
    expect(keysOf((await ab.list().unwrap()).entries)).toEqual(["1", "2", "3"]);
    expect(await ab.delete("3").unwrap()).toEqual({ deleted: true });
  });

  it("surfaces entries of an older state version as migration-required", async () => {
    const ns = {
      ownerType: "user",
      ownerId: "usr_ada",
      contractId: app.CONTRACT_ID,
      store: "drafts",
    } as const;
    const stamp = { updatedAt: new Date().toISOString(), writerContractDigest: "old-digest" };
    await raw.put(
      stateEntryKey(ns, "old/1"),
      JSON.stringify({ value: { text: "hi" }, stateVersion: "v1", ...stamp }),
    );
    await raw.put(
      stateEntryKey(ns, "old/2"),
      JSON.stringify({ value: { x: 1 }, stateVersion: "v0", ...stamp }),
    );
    const accepted = await drafts.get("old/1").unwrap();
    expect(accepted).toMatchObject({
      migrationRequired: true,
      accepted: true,
      stateVersion: "v1",
      currentStateVersion: "v2",
      writerContractDigest: "old-digest",
      entry: { key: "old/1", value: { text: "hi" } },
    });
    expect(await drafts.get("old/2").unwrap()).toMatchObject({ migrationRequired: true, accepted: false });
    const listed = await drafts.list({ prefix: "old/" }).unwrap();
    expect(listed.entries.every((e) => "migrationRequired" in e)).toBe(true);
    // Migrating: write the converted value at the revision read.
    const revision = "migrationRequired" in accepted ? accepted.entry.revision : "";
    const migrated = await drafts
      .put("old/1", { title: "hi", body: "" }, { expectedRevision: revision })
      .unwrap();
    expect(migrated.applied).toBe(true);
    await drafts.delete("old/1").unwrap();
    await drafts.delete("old/2").unwrap();
  });

  it("reports a malformed stored envelope as UnexpectedError", async () => {
    const ns = {
      ownerType: "user",
      ownerId: "usr_ada",
      contractId: app.CONTRACT_ID,
      store: "drafts",
    } as const;
    await raw.put(stateEntryKey(ns, "broken"), JSON.stringify({ value: 1 }));
    const read = await drafts.get("broken");
    expect(read.isErr() && read.error).toBeInstanceOf(UnexpectedError);
    await raw.delete(stateEntryKey(ns, "broken"));
  });
});

describe("conditional writes", () => {
  it("creates if absent with null, updates if matching with a revision, overwrites when omitted", async () => {
    const created = await drafts.put("cas", { title: "v1", body: "" }, { expectedRevision: null }).unwrap();
    expect(created.applied).toBe(true);
    const rev1 = created.applied ? created.entry.revision : "";
    const again = await drafts.put("cas", { title: "x", body: "" }, { expectedRevision: null }).unwrap();
    expect(again).toMatchObject({
      applied: false,
      found: true,
      entry: { revision: rev1, value: { title: "v1" } },
    });

    const updated = await drafts.put("cas", { title: "v2", body: "" }, { expectedRevision: rev1 }).unwrap();
    expect(updated.applied).toBe(true);
    const stale = await drafts.put("cas", { title: "v3", body: "" }, { expectedRevision: rev1 }).unwrap();
    expect(stale).toMatchObject({ applied: false, found: true, entry: { value: { title: "v2" } } });

    const overwritten = await drafts.put("cas", { title: "v4", body: "" }).unwrap();
    expect(overwritten).toMatchObject({ applied: true, entry: { value: { title: "v4" } } });

    const absent = await drafts.put("nope", { title: "n", body: "" }, { expectedRevision: "1" }).unwrap();
    expect(absent).toEqual({ applied: false, found: false });
    expect(await drafts.get("nope").unwrap()).toEqual({ found: false });
  });

  it("deletes only at the expected revision", async () => {
    const put = await drafts.put("del", { title: "d", body: "" }).unwrap();
    const revision = put.applied ? put.entry.revision : "";
    expect(await drafts.delete("del", { expectedRevision: `${Number(revision) + 1000}` }).unwrap()).toEqual({
      deleted: false,
    });
    expect(await drafts.delete("del", { expectedRevision: revision }).unwrap()).toEqual({ deleted: true });
    expect(await drafts.delete("del", { expectedRevision: revision }).unwrap()).toEqual({ deleted: false });
  });
});

describe("TTL", () => {
  it("treats an expired entry as absent everywhere", async () => {
    const put = await drafts.put("ttl/1", { title: "brief", body: "" }, { ttlMs: 300 }).unwrap();
    expect(put.applied && put.entry.expiresAt).toEqual(expect.any(String));
    expect(await drafts.get("ttl/1").unwrap()).toMatchObject({ found: true });
    const until = Date.now() + 5000;
    let read = await drafts.get("ttl/1").unwrap();
    while ("entry" in read && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      read = await drafts.get("ttl/1").unwrap();
    }
    expect(read).toEqual({ found: false });
    expect(keysOf((await drafts.list({ prefix: "ttl/" }).unwrap()).entries)).toEqual([]);
    expect(await drafts.delete("ttl/1").unwrap()).toEqual({ deleted: false });
    const recreated = await drafts
      .put("ttl/1", { title: "again", body: "" }, { expectedRevision: null })
      .unwrap();
    expect(recreated.applied).toBe(true);
  });

  it("replaces an expired entry that is still stored when creating if absent", async () => {
    const ns = {
      ownerType: "user",
      ownerId: "usr_ada",
      contractId: app.CONTRACT_ID,
      store: "drafts",
    } as const;
    const past = new Date(Date.now() - 1000).toISOString();
    await raw.put(
      stateEntryKey(ns, "ttl/2"),
      JSON.stringify({
        value: { title: "old", body: "" },
        updatedAt: past,
        expiresAt: past,
        stateVersion: "v2",
        writerContractDigest: app.CONTRACT_DIGEST,
      }),
    );
    const created = await drafts
      .put("ttl/2", { title: "new", body: "" }, { expectedRevision: null })
      .unwrap();
    expect(created).toMatchObject({ applied: true, entry: { value: { title: "new" } } });
  });
});

describe("limits and refusals", () => {
  async function refused<T>(result: PromiseLike<Result<T, BaseError>>): Promise<BaseError | undefined> {
    const r = await result;
    return r.isErr() ? r.error : undefined;
  }

  it("refuses keys over 512 bytes, values over 64 KiB and pages over 100", async () => {
    expect(await refused(drafts.get("k".repeat(513)))).toBeInstanceOf(ValidationError);
    expect(await refused(drafts.put("big", { title: "b", body: "x".repeat(64 * 1024) }))).toBeInstanceOf(
      ValidationError,
    );
    expect(await refused(drafts.list({ limit: 101 }))).toBeInstanceOf(ValidationError);
    expect(await drafts.get("k".repeat(512)).unwrap()).toEqual({ found: false });
  });

  it("refuses unknown stores and keys that do not fit the store kind", async () => {
    const call = (input: unknown) =>
      ada.rpc.request("State.Get", stateRpc["State.Get"]!, stateSchemas, input);
    expect(await refused(call({ store: "nope" }))).toBeInstanceOf(ValidationError);
    expect(await refused(call({ store: "prefs", key: "x" }))).toBeInstanceOf(ValidationError);
    expect(await refused(call({ store: "drafts" }))).toBeInstanceOf(ValidationError);
    const list = ada.rpc.request("State.List", stateRpc["State.List"]!, stateSchemas, {
      store: "prefs",
      limit: 1,
    });
    expect(await refused(list)).toBeInstanceOf(ValidationError);
  });

  it("refuses callers without an app or device contract", async () => {
    const service = await participant({ type: "service", id: "svc", capabilities: ["service"] });
    const error = await refused(service.state.value("prefs").get());
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).reason).toBe("forbidden");
    const unbound = await participant({ type: "user", id: "usr_x", capabilities: [] });
    expect(await refused(unbound.state.value("prefs").get())).toBeInstanceOf(AuthError);
  });
});

describe("admin", () => {
  const target = {
    scope: "userApp",
    user: { origin: "github", id: "ada", userId: "usr_ada" },
    contractId: app.CONTRACT_ID,
    contractDigest: app.CONTRACT_DIGEST,
  } as const;

  it("requires the admin capability", async () => {
    const result = await ada.rpc.request("State.Admin.Get", stateRpc["State.Admin.Get"]!, stateSchemas, {
      ...target,
      store: "prefs",
    });
    expect(result.isErr() && result.error).toBeInstanceOf(AuthError);
    expect(result.isErr() && (result.error as AuthError).reason).toBe("insufficient_permissions");
  });

  it("reads, lists and deletes another user's state", async () => {
    await prefs.put({ theme: "dark" }).unwrap();
    const read = await admin.rpc
      .request("State.Admin.Get", stateRpc["State.Admin.Get"]!, stateSchemas, { ...target, store: "prefs" })
      .unwrap();
    expect(read).toMatchObject({ found: true, entry: { value: { theme: "dark" } } });

    // Without a userId, the resolver finds the user from the identity.
    const { userId: _userId, ...identity } = target.user;
    const page = await admin.rpc
      .request("State.Admin.List", stateRpc["State.Admin.List"]!, stateSchemas, {
        ...target,
        user: identity,
        store: "drafts",
        prefix: "a/b/",
        limit: 10,
      })
      .unwrap();
    expect(page).toMatchObject({ count: 2, entries: [{ key: "a/b/1" }, { key: "a/b/2" }] });

    const unknown = await admin.rpc.request("State.Admin.Get", stateRpc["State.Admin.Get"]!, stateSchemas, {
      ...target,
      user: { origin: "github", id: "nobody" },
      store: "prefs",
    });
    expect(unknown.isErr() && unknown.error).toBeInstanceOf(ValidationError);

    const deleted = await admin.rpc
      .request("State.Admin.Delete", stateRpc["State.Admin.Delete"]!, stateSchemas, {
        ...target,
        store: "prefs",
      })
      .unwrap();
    expect(deleted).toEqual({ deleted: true });
    expect(await prefs.get().unwrap()).toEqual({ found: false });
  });
});
