import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { defineServiceContract } from "@trellis/contracts";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { KVError, ValidationError } from "../src/errors/errors.js";
import {
  escapeKvKey,
  escapeKvKeyFilter,
  type KvWatchEvent,
  openKvBindings,
  TypedKV,
  unescapeKvKey,
} from "../src/kv/index.js";
import { SchemaSet } from "../src/validation/schemas.js";

const Profile = z.object({
  name: z.string().min(1),
  age: z.int().min(0),
  seenAt: z.iso.datetime().optional(),
});
type Profile = z.infer<typeof Profile>;

const contract = defineServiceContract({ schemas: { Profile } }, (ref) => ({
  id: "profiles@v1",
  displayName: "Profiles",
  description: "Keeps profiles.",
  resources: {
    kv: {
      profiles: { purpose: "Profiles by user", schema: ref.schema("Profile"), history: 5 },
      cache: { purpose: "Optional cache", schema: ref.schema("Profile"), required: false },
    },
  },
}));
const schemas = SchemaSet.of(contract.CONTRACT);
const BUCKET = "svc_profiles_profiles";

let server: NatsServerHandle;
let nc: NatsConnection;
let raw: KV;
let kv: TypedKV<Profile>;

function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  // The platform's part: reconciliation creates the bucket; the service only binds.
  raw = await new Kvm(nc).create(BUCKET, { history: 5 });
  const opened = await openKvBindings(nc, contract, schemas, {
    profiles: { bucket: BUCKET, history: 5, ttlMs: 0, maxValueBytes: 256 },
  });
  if (opened.isErr()) throw opened.error;
  expect(Object.keys(opened.value)).toEqual(["profiles"]);
  kv = opened.value.profiles as TypedKV<Profile>;
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("KV key escaping (§5.1)", () => {
  it.each([
    ["a b", "a~20~b"],
    ["tab\there", "tab~9~here"],
    ["nul\u0000", "nul~0~"],
    ["a*b", "a~2A~b"],
    [">", "~3E~"],
    ["til~de", "til~7E~de"],
    ["$sys", "_$sys"],
    ["", "_"],
    ["users.u1.profile", "users.u1.profile"],
    ["plain_key-1/x=y", "plain_key-1/x=y"],
  ])("escapes %j as %j", (key, stored) => {
    expect(escapeKvKey(key)).toBe(stored);
  });

  it("reverses the escaping", () => {
    for (const key of ["a b", "$sys", "til~de", "x.y z.>", "ünï cödé"])
      expect(unescapeKvKey(escapeKvKey(key))).toBe(key);
  });

  it("keeps wildcard segments of filters", () => {
    expect(escapeKvKeyFilter("users.*.a b")).toBe("users.*.a~20~b");
    expect(escapeKvKeyFilter(">")).toBe(">");
    expect(escapeKvKeyFilter("$x.>")).toBe("_$x.>");
  });

  it("stores escaped keys in the bucket and reads them back by the caller's key", async () => {
    const key = "weird key~$*";
    const created = await kv.create(key, { name: "W", age: 1 });
    expect(created.isOk()).toBe(true);
    // The plain client refuses the escaped form as a key, so list the raw keys instead.
    const rawKeys: string[] = [];
    for await (const k of await raw.keys()) rawKeys.push(k);
    expect(rawKeys).toContain("weird~20~key~7E~$~2A~");
    const read = await kv.get(key);
    expect(read.isOk() && read.value).toMatchObject({ key, value: { name: "W", age: 1 } });
    const dollar = await kv.put("$leading", { name: "D", age: 2 });
    expect(dollar.isOk()).toBe(true);
    expect((await kv.get("$leading")).isOk()).toBe(true);
    const keys = await kv.keys();
    expect(keys.isOk() && keys.value).toEqual(expect.arrayContaining([key, "$leading"]));
    await kv.delete(key);
    await kv.delete("$leading");
  });

  it("refuses keys that are not valid subject tails", async () => {
    for (const key of ["a..b", ".a", "a."]) {
      const result = await kv.get(key);
      expect(result.isErr() && result.error).toBeInstanceOf(KVError);
      expect(result.isErr() && (result.error as KVError).reason).toBe("invalid key");
    }
  });
});

describe("TypedKV", () => {
  it("reports a missing key as KVError 'not found'", async () => {
    const result = await kv.get("nobody");
    expect(result.isErr() && result.error).toBeInstanceOf(KVError);
    const error = result.isErr() ? (result.error as KVError) : undefined;
    expect(error?.operation).toBe("get");
    expect(error?.reason).toBe("not found");
  });

  it("creates, refuses a second create with 'exists', reads the entry", async () => {
    const created = await kv.create("users.u1", { name: "Ada", age: 36 });
    expect(created.isOk()).toBe(true);
    const again = await kv.create("users.u1", { name: "Eve", age: 1 });
    expect(again.isErr() && (again.error as KVError).reason).toBe("exists");
    const entry = await kv.get("users.u1");
    expect(entry.isOk()).toBe(true);
    if (!entry.isOk()) return;
    expect(entry.value).toMatchObject({ key: "users.u1", value: { name: "Ada", age: 36 } });
    expect(entry.value.revision).toBe(created.isOk() ? created.value : -1);
    expect(entry.value.createdAt).toBeInstanceOf(Date);
  });

  it("puts with compare-and-set, refusing a stale revision with 'revision mismatch'", async () => {
    const first = await kv.put("users.u2", { name: "Bob", age: 20 });
    if (!first.isOk()) throw first.error;
    const second = await kv.put("users.u2", { name: "Bob", age: 21 }, { expectedRevision: first.value });
    if (!second.isOk()) throw second.error;
    const stale = await kv.put("users.u2", { name: "Bob", age: 99 }, { expectedRevision: first.value });
    expect(stale.isErr() && stale.error).toBeInstanceOf(KVError);
    expect(stale.isErr() && (stale.error as KVError).reason).toBe("revision mismatch");
    const current = await kv.get("users.u2");
    expect(current.isOk() && current.value.value.age).toBe(21);
    const overwrite = await kv.put("users.u2", { name: "Bob", age: 22 });
    expect(overwrite.isOk()).toBe(true);
  });

  it("deletes, with and without an expected revision", async () => {
    const rev = await kv.put("users.u3", { name: "Cy", age: 3 });
    if (!rev.isOk()) throw rev.error;
    const stale = await kv.delete("users.u3", { expectedRevision: rev.value - 1 });
    expect(stale.isErr() && (stale.error as KVError).reason).toBe("revision mismatch");
    const deleted = await kv.delete("users.u3", { expectedRevision: rev.value });
    expect(deleted.isOk()).toBe(true);
    const gone = await kv.get("users.u3");
    expect(gone.isErr() && (gone.error as KVError).reason).toBe("not found");
    expect((await kv.create("users.u3", { name: "Cy", age: 4 })).isOk()).toBe(true);
    expect((await kv.delete("users.u3")).isOk()).toBe(true);
  });

  it("validates writes, externalizing Dates, and writes nothing on failure", async () => {
    const invalid = await kv.put("users.bad", { name: "", age: -1 });
    expect(invalid.isErr() && invalid.error).toBeInstanceOf(ValidationError);
    expect((await kv.get("users.bad")).isErr()).toBe(true);
    const loose = await TypedKV.open<unknown>(nc, { bucket: BUCKET, schema: "Profile", schemas });
    if (!loose.isOk()) throw loose.error;
    const withDate = { name: "Dee", age: 5, seenAt: new Date("2024-01-02T03:04:05.000Z") };
    const written = await loose.value.put("users.date", withDate);
    expect(written.isOk()).toBe(true);
    const read = await kv.get("users.date");
    expect(read.isOk() && read.value.value.seenAt).toBe("2024-01-02T03:04:05.000Z");
  });

  it("refuses values over maxValueBytes", async () => {
    const big = await kv.put("users.big", { name: "x".repeat(300), age: 1 });
    expect(big.isErr() && (big.error as KVError).reason).toBe("value too large");
  });

  it("reports a stored value that breaks the schema as ValidationError with key and revision", async () => {
    const revision = await raw.put("users.corrupt", JSON.stringify({ name: 42 }));
    const result = await kv.get("users.corrupt");
    expect(result.isErr() && result.error).toBeInstanceOf(ValidationError);
    expect(result.isErr() && result.error.context).toMatchObject({ key: "users.corrupt", revision });
    await raw.put("users.notjson", "{");
    const notJson = await kv.get("users.notjson");
    expect(notJson.isErr() && notJson.error).toBeInstanceOf(ValidationError);
    await raw.delete("users.corrupt");
    await raw.delete("users.notjson");
  });

  it("lists keys with a filter", async () => {
    await kv.put("teams.t1", { name: "T1", age: 1 });
    await kv.put("teams.t2", { name: "T2", age: 2 });
    const teams = await kv.keys("teams.*");
    expect(teams.isOk() && teams.value.sort()).toEqual(["teams.t1", "teams.t2"]);
    const all = await kv.keys();
    expect(all.isOk() && all.value).toEqual(expect.arrayContaining(["teams.t1", "users.u1"]));
  });

  it("watches changes, with deletes and invalid values, until the signal aborts", async () => {
    const events: KvWatchEvent<Profile>[] = [];
    const controller = new AbortController();
    const watcher = await kv.watch((event) => void events.push(event), {
      key: "watched.>",
      includeDeletes: true,
      updatesOnly: true,
      signal: controller.signal,
    });
    if (!watcher.isOk()) throw watcher.error;
    await kv.put("watched.a", { name: "A", age: 1 });
    await kv.put("watched.a", { name: "A", age: 2 });
    await kv.delete("watched.a");
    await raw.put("watched.b", JSON.stringify({ nope: true }));
    await within(waitFor(() => events.length >= 4));
    expect(events.map((e) => e.kind)).toEqual(["put", "put", "delete", "invalid"]);
    const second = events[1];
    expect(second?.kind === "put" && second.entry.value).toEqual({ name: "A", age: 2 });
    controller.abort();
    expect(await within(watcher.value.done)).toBeUndefined();
    await kv.put("watched.a", { name: "A", age: 3 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toHaveLength(4);
  });

  it("starts a watch with current values by default and skips deletes", async () => {
    await kv.put("seeded.x", { name: "X", age: 1 });
    const keys: string[] = [];
    const watcher = await kv.watch(
      (event) => {
        if (event.kind === "put") keys.push(event.entry.key);
      },
      { key: "seeded.*" },
    );
    if (!watcher.isOk()) throw watcher.error;
    await within(waitFor(() => keys.includes("seeded.x")));
    await kv.delete("seeded.x");
    await kv.put("seeded.y", { name: "Y", age: 1 });
    await within(waitFor(() => keys.includes("seeded.y")));
    watcher.value.stop();
    expect(await within(watcher.value.done)).toBeUndefined();
  });
});

describe("openKvBindings", () => {
  it("refuses a required resource without a binding", async () => {
    const result = await openKvBindings(nc, contract, schemas, {});
    expect(result.isErr() && result.error).toBeInstanceOf(KVError);
    expect(result.isErr() && (result.error as KVError).reason).toBe("binding missing");
    expect(result.isErr() && result.error.message).toContain("profiles");
  });

  it("never creates a bucket: a missing one is 'bucket not found'", async () => {
    const result = await openKvBindings(nc, contract, schemas, {
      profiles: { bucket: "svc_profiles_missing", history: 1, ttlMs: 0 },
    });
    expect(result.isErr() && (result.error as KVError).reason).toBe("bucket not found");
    const names: string[] = [];
    for await (const status of new Kvm(nc).list()) names.push(status.bucket);
    expect(names).not.toContain("svc_profiles_missing");
  });

  it("opens optional resources when bound", async () => {
    await new Kvm(nc).create("svc_profiles_cache");
    const result = await openKvBindings(nc, contract, schemas, {
      profiles: { bucket: BUCKET, history: 5, ttlMs: 0 },
      cache: { bucket: "svc_profiles_cache", history: 1, ttlMs: 0 },
      unknown: { bucket: "whatever", history: 1, ttlMs: 0 },
    });
    expect(result.isOk() && Object.keys(result.value).sort()).toEqual(["cache", "profiles"]);
  });
});
