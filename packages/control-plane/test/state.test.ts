/**
 * `trellis.state@v1` served by the control plane on the real stack: an app contract declaring state
 * stores signs in through the portal flow, and its users read and write their own scope; an admin
 * inspects a user's scope with `State.Admin.*`.
 */

import { readFileSync } from "node:fs";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { trellisState } from "@trellis/builtin-contracts";
import { defineAgentContract, defineAppContract } from "@trellis/contracts";
import {
  type MapStateStore,
  SchemaSet,
  STATE_BUCKET,
  StateClient,
  type TrellisClient,
  ValidationError,
  type ValueStateStore,
} from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { signIn } from "./support/platform-sign-in.js";

const Prefs = z.object({ theme: z.enum(["light", "dark"]) });
const Draft = z.object({ title: z.string() });
type Prefs = z.infer<typeof Prefs>;
type Draft = z.infer<typeof Draft>;

const notes = defineAppContract({ schemas: { Prefs, Draft } }, (ref) => ({
  id: "notes.app@v1",
  displayName: "Notes",
  description: "Takes notes.",
  state: {
    prefs: { kind: "value", schema: ref.schema("Prefs") },
    drafts: { kind: "map", schema: ref.schema("Draft") },
  },
}));

const inspector = defineAgentContract({}, () => ({
  id: "state-inspector@v1",
  displayName: "State inspector",
  description: "Inspects users' state.",
  uses: {
    required: {
      state: trellisState.use({
        rpc: { call: ["State.Admin.Get", "State.Admin.List", "State.Admin.Delete"] },
      }),
    },
  },
}));

const PASSWORD = "state-test-password-1";
let platform: PlatformHandle;
const clients: TrellisClient<never>[] = [];
let adaDrafts: MapStateStore<Draft>;
let adaPrefs: ValueStateStore<Prefs>;
let bobDrafts: MapStateStore<Draft>;
let admin: TrellisClient<typeof inspector>;
let adaUserId: string;
let adaClient: TrellisClient<typeof notes>;

function stateOf(client: TrellisClient<typeof notes>): StateClient {
  return new StateClient({
    rpc: client.rpcClient,
    contract: notes,
    stateContract: trellisState,
    stateSchemas: SchemaSet.of(trellisState.CONTRACT),
  });
}

async function track<C>(client: C): Promise<C> {
  clients.push(client as TrellisClient<never>);
  return client;
}

beforeAll(async () => {
  platform = await startPlatform();
  adaUserId = (await platform.createUser({ username: "ada", password: PASSWORD })).userId;
  await platform.createUser({ username: "bob", password: PASSWORD });
  adaClient = await track(await signIn(platform, notes, "ada", PASSWORD));
  const ada = stateOf(adaClient);
  const bob = stateOf(await track(await signIn(platform, notes, "bob", PASSWORD)));
  adaDrafts = ada.map<Draft>("drafts");
  adaPrefs = ada.value<Prefs>("prefs");
  bobDrafts = bob.map<Draft>("drafts");
  const { username, password } = platform.admin!;
  admin = await track(await signIn(platform, inspector, username, password));
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.nc.close().catch(() => undefined)));
  await platform?.stop();
});

const adaTarget = () =>
  ({
    scope: "userApp",
    user: { origin: "local", id: "ada" },
    contractId: notes.CONTRACT_ID,
    contractDigest: notes.CONTRACT_DIGEST,
  }) as const;

describe("State.* for a signed-in app", () => {
  it("puts, gets, lists and deletes in the caller's own scope", async () => {
    expect(await adaPrefs.get().unwrap()).toEqual({ found: false });
    expect(await adaPrefs.put({ theme: "dark" }).unwrap()).toMatchObject({
      applied: true,
      entry: { value: { theme: "dark" } },
    });
    expect(await adaPrefs.get().unwrap()).toMatchObject({ found: true, entry: { value: { theme: "dark" } } });

    await adaDrafts.put("b", { title: "second" }).unwrap();
    await adaDrafts.put("a", { title: "first" }).unwrap();
    const listed = await adaDrafts.list().unwrap();
    expect(listed.entries.map((entry) => ("key" in entry ? entry.key : undefined))).toEqual(["a", "b"]);
    expect(listed.count).toBe(2);

    expect(await adaDrafts.delete("a").unwrap()).toEqual({ deleted: true });
    expect(await adaDrafts.get("a").unwrap()).toEqual({ found: false });
    expect(await adaDrafts.delete("a").unwrap()).toEqual({ deleted: false });
  });

  it("keeps another user's state out of sight", async () => {
    await adaDrafts.put("secret", { title: "ada only" }).unwrap();
    expect(await bobDrafts.get("secret").unwrap()).toEqual({ found: false });
    expect((await bobDrafts.list().unwrap()).entries).toEqual([]);
    await bobDrafts.put("secret", { title: "bob's own" }).unwrap();
    expect(await adaDrafts.get("secret").unwrap()).toMatchObject({ entry: { value: { title: "ada only" } } });
  });

  it("stores under the session's user id and contract lineage in the AUTH account's bucket", async () => {
    const creds = platform.controlPlane.context.config.nats.auth.credsPath;
    const nc: NatsConnection = await connect({
      servers: platform.natsUrl,
      authenticator: credsAuthenticator(readFileSync(creds)),
    });
    try {
      const kv = await new Kvm(nc).open(STATE_BUCKET);
      const entry = await kv.get(`user.${adaUserId}.notes=2Eapp=40v1.drafts.secret`);
      expect(entry?.json()).toMatchObject({
        value: { title: "ada only" },
        writerContractDigest: notes.CONTRACT_DIGEST,
      });
    } finally {
      await nc.close();
    }
  });

  it("refuses a store the contract does not declare, and a key on a value store", async () => {
    const stateRpc = trellisState.API.owned.rpc;
    const schemas = SchemaSet.of(trellisState.CONTRACT);
    const unknown = await adaClient.rpcClient.request("State.Get", stateRpc["State.Get"], schemas, {
      store: "nope",
      key: "x",
    });
    expect(unknown.isErr() && unknown.error).toBeInstanceOf(ValidationError);
    expect(unknown.isErr() && JSON.stringify(unknown.error)).toContain("declares no state store 'nope'");
    const keyed = await adaClient.rpcClient.request("State.Get", stateRpc["State.Get"], schemas, {
      store: "prefs",
      key: "x",
    });
    expect(keyed.isErr() && JSON.stringify(keyed.error)).toContain(
      "'prefs' is a value store; it takes no key",
    );
  });
});

describe("State.Admin.*", () => {
  it("lists and reads a user's app state with scope userApp", async () => {
    const page = await admin.rpc.state.adminList({ ...adaTarget(), store: "drafts", limit: 10 });
    expect(page.isOk()).toBe(true);
    if (!page.isOk()) return;
    expect(page.value.entries.map((entry) => ("key" in entry ? entry.key : undefined))).toEqual([
      "b",
      "secret",
    ]);
    const prefs = await admin.rpc.state.adminGet({ ...adaTarget(), store: "prefs" });
    expect(prefs.isOk() && prefs.value).toMatchObject({ found: true, entry: { value: { theme: "dark" } } });
  });

  it("deletes a user's value", async () => {
    const deleted = await admin.rpc.state.adminDelete({ ...adaTarget(), store: "drafts", key: "b" });
    expect(deleted.isOk() && deleted.value).toEqual({ deleted: true });
    expect(await adaDrafts.get("b").unwrap()).toEqual({ found: false });
  });

  it("refuses an identity no user is linked to", async () => {
    const result = await admin.rpc.state.adminList({
      ...adaTarget(),
      user: { origin: "local", id: "nobody" },
      store: "drafts",
      limit: 10,
    });
    expect(result.isErr() && result.error).toBeInstanceOf(ValidationError);
    expect(result.isErr() && JSON.stringify(result.error)).toContain(
      "no user is known for identity 'local:nobody'",
    );
  });
});
