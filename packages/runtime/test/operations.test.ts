/**
 * Operations on a real nats-server (runtime spec §4): the operations bucket is created here as
 * reconciliation would, services are opened with `TrellisService.open` on it, callers use the typed
 * client. Covers start order, revisions, watch/wait, cancel, signals, ownership, unknown ids, a
 * restart with `control(id)` finishing a deferred operation, two replicas and keepalive frames.
 */
import { Kvm } from "@nats-io/kv";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { defineServiceContract } from "@trellis/contracts";
import { type BaseError, Result, UnexpectedError } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { InMemorySessionAuthority } from "../src/auth/caller.js";
import { ServerClock } from "../src/auth/clock.js";
import { AuthError, TransportError, ValidationError } from "../src/errors/errors.js";
import { TrellisClient } from "../src/facade/client.js";
import { TrellisService } from "../src/facade/service.js";
import { newUlid } from "../src/ids.js";
import {
  type ControlFrame,
  OperationAlreadyTerminalError,
  type OperationEvent,
  OperationMismatchError,
  OperationNotFoundError,
  OperationServer,
  type OperationSnapshot,
  OperationStore,
} from "../src/operations/index.js";
import { ProofCallerAuthenticator } from "../src/rpc/authenticator.js";
import { RequestSigner } from "../src/rpc/signer.js";
import { resolveLogger } from "../src/telemetry/logger.js";
import { Metrics } from "../src/telemetry/metrics.js";
import { SchemaSet } from "../src/validation/schemas.js";

const work = defineServiceContract(
  {
    schemas: {
      RunInput: z.object({
        mode: z.enum([
          "complete",
          "block",
          "signals",
          "defer",
          "fail",
          "throw",
          "bad-output",
          "bad-progress",
        ]),
        label: z.string().optional(),
      }),
      Progress: z.object({ pct: z.int().min(0).max(100) }),
      Output: z.object({ done: z.string(), signals: z.array(z.string()).optional() }),
      Approve: z.object({ by: z.string().min(1) }),
      Note: z.object({ text: z.string() }),
    },
  },
  (ref) => ({
    id: "ops.work@v1",
    displayName: "Work",
    description: "Runs work as operations.",
    capabilities: { run: { displayName: "Run", description: "Run work." } },
    operations: {
      "Work.Run": {
        version: "v1",
        input: ref.schema("RunInput"),
        progress: ref.schema("Progress"),
        output: ref.schema("Output"),
        capabilities: { call: ["run"] },
        signals: { approve: { input: ref.schema("Approve") }, note: { input: ref.schema("Note") } },
        cancel: true,
      },
      "Work.Fixed": {
        version: "v1",
        input: ref.schema("RunInput"),
        output: ref.schema("Output"),
      },
    },
  }),
);

type Output = { done: string; signals?: string[] };
const BUCKET = "trellis_ops_work";
const RUN_CAPABILITY = work.API.owned.operations["Work.Run"].callerCapabilities[0] as string;

let server: NatsServerHandle;
const connections: NatsConnection[] = [];
const authority = new InMemorySessionAuthority();
const metrics = new Metrics();
let serviceA: TrellisService<typeof work>;
let owner: TrellisClient<typeof work>;
let stranger: TrellisClient<typeof work>;
let powerless: TrellisClient<typeof work>;
let ownerSeed: string;

/** What the handlers saw, by label. */
const seen = new Map<string, { persisted?: OperationSnapshot; signals: string[]; errors: BaseError[] }>();
const handlerRuns: string[] = [];
const gates = new Map<string, () => void>();

function gate(label: string): Promise<void> {
  return new Promise((resolve) => gates.set(label, resolve));
}

function open(label: string): void {
  const release = gates.get(label);
  if (!release) throw new Error(`no gate '${label}'`);
  release();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `promise`, or rejects when it takes longer than `ms`. */
function within<T>(promise: PromiseLike<T>, ms = 5000): Promise<T> {
  return Promise.race([
    Promise.resolve(promise),
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);
}

async function eventually(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function participant(seed: string): Promise<NatsConnection> {
  const nc = await connect({
    servers: server.url,
    inboxPrefix: `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`,
  });
  connections.push(nc);
  return nc;
}

async function caller(capabilities: string[]): Promise<{ client: TrellisClient<typeof work>; seed: string }> {
  const seed = generateSessionSeed();
  const key = sessionKeyFromSeed(seed);
  authority.register(key, {
    caller: { type: "user", id: `usr_${key.slice(0, 6)}`, capabilities },
    inboxPrefix: `_INBOX.${key.slice(0, 16)}`,
  });
  const client = TrellisClient.open({
    nc: await participant(seed),
    contract: work,
    sessionKeySeed: seed,
    logger: false,
  });
  return { client, seed };
}

/** Opens a replica of the service on the bucket (with the handlers unless `mount` is false) and starts it. */
async function openReplica(options: { mount?: boolean } = {}): Promise<TrellisService<typeof work>> {
  const seed = generateSessionSeed();
  const nc = await participant(seed);
  const service = await TrellisService.open({
    nc,
    contract: work,
    name: "work",
    sessionKeySeed: seed,
    authenticator: new ProofCallerAuthenticator({ authority }),
    bindings: { operations: { bucket: BUCKET } },
    heartbeat: false,
    logger: false,
    metrics,
  });
  if (options.mount !== false) mountWork(service);
  await service.start();
  // The server has registered every subscription once the connection is flushed.
  await nc.flush();
  return service;
}

/** Mounts `Work.Run` (what it does is chosen by the input's mode) and `Work.Fixed`. */
function mountWork(service: TrellisService<typeof work>): void {
  service.handle.operation.work.run(async ({ input, op, context }) => {
    const label = input.label ?? op.id;
    handlerRuns.push(label);
    const record = { signals: [] as string[], errors: [] as BaseError[] } as {
      persisted?: OperationSnapshot;
      signals: string[];
      errors: BaseError[];
    };
    seen.set(label, record);
    const persisted = await op.get();
    if (persisted.isOk()) record.persisted = persisted.value;
    expect(context.sessionKey).toBeTruthy();
    switch (input.mode) {
      case "complete":
        await op.started();
        await op.progress({ pct: 50 });
        return Result.ok({ done: label });
      case "block": {
        await gate(label);
        const started = await op.started();
        if (started.isErr()) record.errors.push(started.error);
        const progressed = await op.progress({ pct: 40 });
        if (progressed.isErr()) record.errors.push(progressed.error);
        await op.progress({ pct: 80 });
        return Result.ok({ done: label });
      }
      case "signals": {
        await op.started();
        await gate(label);
        for (;;) {
          const next = await op.nextSignal();
          if (next.isErr()) {
            record.errors.push(next.error);
            break;
          }
          const { signal, input: payload } = next.value;
          record.signals.push(signal === "approve" ? `approve:${payload.by}` : `note:${payload.text}`);
          if (signal === "approve") break;
        }
        return Result.ok({ done: label, signals: record.signals });
      }
      case "defer":
        return op.defer();
      case "fail":
        return Result.err(new ValidationError([{ path: "/label", message: "refused by the handler" }]));
      case "throw":
        throw new Error("kaput");
      case "bad-output":
        return Result.ok({ done: 42 } as unknown as Output);
      case "bad-progress": {
        const bad = await op.progress({ pct: 1000 });
        if (bad.isErr()) record.errors.push(bad.error);
        return Result.ok({ done: label });
      }
    }
  });
  service.handle.operation.work.fixed(({ input }) => Result.ok({ done: input.label ?? "fixed" }));
}

async function collect<E>(iterable: AsyncIterable<E>, max = 50): Promise<E[]> {
  const out: E[] = [];
  for await (const item of iterable) {
    out.push(item);
    if (out.length >= max) break;
  }
  return out;
}

beforeAll(async () => {
  server = await startNatsServer();
  const admin = await connect({ servers: server.url });
  connections.push(admin);
  // Reconciliation's part: the deployment's operations bucket.
  await new Kvm(admin).create(BUCKET, { history: 16, allow_direct: true });
  serviceA = await openReplica();
  const first = await caller([RUN_CAPABILITY]);
  owner = first.client;
  ownerSeed = first.seed;
  stranger = (await caller([RUN_CAPABILITY])).client;
  powerless = (await caller([])).client;
});

afterAll(async () => {
  await serviceA?.stop();
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe("start", () => {
  it("persists the accepted snapshot (revision 1, pending) before the reply and runs the handler after it", async () => {
    const started = await owner.operation.work.run.start({ mode: "block", label: "order" });
    expect(started.isOk()).toBe(true);
    const ref = started.unwrap();
    expect(ref.accepted).toMatchObject({ revision: 1, state: "pending", id: ref.id, operation: "Work.Run" });
    expect(ref.service).toBe("work");
    // The reply came while the handler is still blocked, and the handler found the record already stored.
    await eventually("the handler to read its record", () => seen.get("order")?.persisted !== undefined);
    expect(seen.get("order")?.persisted).toMatchObject({ revision: 1, state: "pending" });
    expect((await ref.get()).unwrap().state).toBe("pending");
    open("order");
    const done = (await within(ref.wait())).unwrap();
    expect(done).toMatchObject({ state: "completed", output: { done: "order" }, revision: 5 });
    expect(done.completedAt).toBeTruthy();
  });

  it("refuses a start with the real error: local validation, missing capability", async () => {
    const invalid = await owner.operation.work.run.start({ mode: "nope" } as never);
    expect(invalid.isErr() && invalid.error).toBeInstanceOf(ValidationError);
    const refused = await powerless.operation.work.run.start({ mode: "complete" });
    expect(refused.isErr()).toBe(true);
    const error = refused.isErr() ? refused.error : undefined;
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).reason).toBe("insufficient_permissions");
  });

  it("fails the operation when the handler returns an error, throws or returns an invalid output", async () => {
    for (const mode of ["fail", "throw", "bad-output"] as const) {
      const ref = (await owner.operation.work.run.start({ mode })).unwrap();
      const done = (await within(ref.wait())).unwrap();
      expect(done.state).toBe("failed");
      expect(done.error).toMatchObject({
        type: mode === "throw" ? "UnexpectedError" : "ValidationError",
        context: { operation: "Work.Run", service: "work", contractId: "ops.work@v1" },
      });
    }
  });

  it("validates progress in the handler's op", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "bad-progress", label: "badprog" })).unwrap();
    expect((await within(ref.wait())).unwrap().state).toBe("completed");
    expect(seen.get("badprog")?.errors[0]).toBeInstanceOf(ValidationError);
  });

  it("counts accepted and finished operations", async () => {
    const text = await metrics.expose();
    expect(text).toMatch(/trellis_operations_total\{operation="Work.Run",outcome="accepted"\} \d+/);
    expect(text).toMatch(/trellis_operations_total\{operation="Work.Run",outcome="completed"\} \d+/);
    expect(text).toMatch(/trellis_operations_total\{operation="Work.Run",outcome="failed"\} \d+/);
  });
});

describe("watch and wait", () => {
  it("watch yields the current state, started, progress with its payload, one terminal event, then ends", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "block", label: "watched" })).unwrap();
    const watch = (await ref.watch()).unwrap();
    const events = collect(watch);
    open("watched");
    const list = await within(events);
    expect(list.map((event) => event.type)).toEqual([
      "accepted",
      "started",
      "progress",
      "progress",
      "completed",
    ]);
    const revisions = list.map((event) => event.snapshot.revision);
    expect(revisions).toEqual([1, 2, 3, 4, 5]);
    const progress = list[2] as Extract<OperationEvent, { type: "progress" }>;
    expect(progress.progress).toEqual({ pct: 40 });
    expect(progress.snapshot.progress).toEqual({ pct: 40 });
    expect(list[4]?.snapshot.output).toEqual({ done: "watched" });
    expect(watch.error).toBeUndefined();
  });

  it("watching or waiting on a finished operation answers at once with its terminal state", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "complete" })).unwrap();
    await within(ref.wait());
    const began = Date.now();
    const waited = (await ref.wait()).unwrap();
    expect(Date.now() - began).toBeLessThan(1000);
    expect(waited.state).toBe("completed");
    const events = await within(collect((await ref.watch()).unwrap()));
    expect(events.map((event) => event.type)).toEqual(["completed"]);
  });

  it("the builder delivers accepted once, then started, progress and completed in order", async () => {
    const order: string[] = [];
    const started = await owner.operation.work.run
      .input({ mode: "block", label: "built" })
      .onAccepted((event) => order.push(`accepted:${event.snapshot.revision}`))
      .onStarted(() => order.push("started"))
      .onProgress((event) => order.push(`progress:${event.progress.pct}`))
      .onCompleted((event) => order.push(`completed:${event.snapshot.output?.done}`))
      .onFailed(() => order.push("failed"))
      .onCancelled(() => order.push("cancelled"))
      .start();
    const ref = started.unwrap();
    await eventually("the handler to block", () => gates.has("built"));
    open("built");
    expect(await within(ref.observed)).toBeUndefined();
    expect(order).toEqual(["accepted:1", "started", "progress:40", "progress:80", "completed:built"]);
  });
});

describe("cancel", () => {
  it("cancels a cancelable operation: watchers see `cancelled`, the handler's later changes are refused", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "block", label: "cancelme" })).unwrap();
    const watch = (await ref.watch()).unwrap();
    const events = collect(watch);
    const cancelled = (await ref.cancel()).unwrap();
    expect(cancelled).toMatchObject({ state: "cancelled", revision: 2 });
    expect(cancelled.completedAt).toBeTruthy();
    expect((await within(events)).map((event) => event.type)).toEqual(["accepted", "cancelled"]);
    open("cancelme");
    await eventually("the handler to try", () => (seen.get("cancelme")?.errors.length ?? 0) >= 2);
    expect(seen.get("cancelme")?.errors[0]).toBeInstanceOf(OperationAlreadyTerminalError);
    await sleep(100);
    expect((await ref.get()).unwrap()).toMatchObject({ state: "cancelled", revision: 2 });
    const again = await ref.cancel();
    expect(again.isErr() && again.error).toBeInstanceOf(OperationAlreadyTerminalError);
  });

  it("refuses to cancel a non-cancelable operation and changes nothing", async () => {
    const ref = (await owner.operation.work.fixed.start({ mode: "complete", label: "fixed" })).unwrap();
    const before = (await within(ref.wait())).unwrap();
    const refused = await ref.cancel();
    expect(refused.isErr() && refused.error).toBeInstanceOf(ValidationError);
    expect((refused.isErr() && (refused.error as ValidationError).issues[0]?.path) || "").toBe("/action");
    expect((await ref.get()).unwrap()).toEqual(before);
  });
});

describe("signals", () => {
  it("accepts signals in order (queued first, then live), refuses unknown, invalid and late ones", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "signals", label: "sig" })).unwrap();
    await eventually("the handler to wait", () => gates.has("sig"));
    const first = (await ref.signal("note", { text: "one" })).unwrap();
    expect(first).toMatchObject({ signal: "note", signalSequence: 1, operationId: ref.id });
    const second = (await ref.signal("note", { text: "two" })).unwrap();
    expect(second.signalSequence).toBe(2);
    expect(second.snapshot.revision).toBe(first.snapshot.revision);

    const unknown = await ref.signal("shout" as never, {} as never);
    expect(unknown.isErr() && (unknown.error as ValidationError).issues[0]?.path).toBe("/signal");
    const invalid = await ref.signal("approve", { by: "" });
    expect(invalid.isErr() && invalid.error).toBeInstanceOf(ValidationError);

    open("sig");
    await eventually("queued signals to be taken", () => (seen.get("sig")?.signals.length ?? 0) === 2);
    const third = (await ref.signal("approve", { by: "ann" })).unwrap();
    expect(third.signalSequence).toBe(3);
    const done = (await within(ref.wait())).unwrap();
    expect(done.output?.signals).toEqual(["note:one", "note:two", "approve:ann"]);
    const late = await ref.signal("note", { text: "late" });
    expect(late.isErr() && late.error).toBeInstanceOf(OperationAlreadyTerminalError);
  });
});

describe("ownership and lookup", () => {
  it("refuses another session with `forbidden` on get, watch, wait, cancel and signal", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "complete" })).unwrap();
    const foreign = stranger.operation.work.run.resume(ref);
    const attempts = [
      foreign.get(),
      foreign.watch(),
      foreign.cancel(),
      foreign.signal("note", { text: "x" }),
    ];
    for (const attempt of await Promise.all(attempts)) {
      expect(attempt.isErr()).toBe(true);
      const error = attempt.isErr() ? attempt.error : undefined;
      expect(error).toBeInstanceOf(AuthError);
      expect((error as AuthError).reason).toBe("forbidden");
    }
    const waited = await foreign.wait();
    expect(waited.isErr() && (waited.error as AuthError).reason).toBe("forbidden");
  });

  it("answers OperationNotFoundError for an unknown id and OperationMismatchError for another operation", async () => {
    const missing = await owner.operation.work.run
      .resume({ id: newUlid(), service: "work", operation: "Work.Run" })
      .get();
    expect(missing.isErr() && missing.error).toBeInstanceOf(OperationNotFoundError);
    const ref = (await owner.operation.work.run.start({ mode: "complete" })).unwrap();
    const wrong = await owner.operation.work.fixed.resume(ref).get();
    expect(wrong.isErr() && wrong.error).toBeInstanceOf(OperationMismatchError);
    const control = await serviceA.handle.operation.work.fixed.control(ref.id);
    expect(control.isErr() && control.error).toBeInstanceOf(OperationMismatchError);
  });

  it("answers the control protocol's frames to hand-made requests: `wait`, malformed, and replies outside the caller's inbox", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "complete" })).unwrap();
    await within(ref.wait());
    const signer = new RequestSigner(ownerSeed, new ServerClock());
    const subject = work.API.owned.operations["Work.Run"].controlSubject;
    const ask = async (body: unknown, nc = owner.nc): Promise<ControlFrame> => {
      const payload = new TextEncoder().encode(JSON.stringify(body));
      const reply = await nc.request(subject, payload, {
        timeout: 3000,
        headers: signer.headers(subject, payload),
      });
      return JSON.parse(new TextDecoder().decode(reply.data)) as ControlFrame;
    };
    expect(await ask({ action: "wait", operationId: ref.id })).toMatchObject({
      kind: "snapshot",
      snapshot: { state: "completed" },
    });
    expect(await ask({ operationId: ref.id })).toMatchObject({
      kind: "error",
      error: { type: "UnexpectedError" },
    });
    expect(await ask({ action: "explode", operationId: ref.id })).toMatchObject({
      kind: "error",
      error: { type: "ValidationError" },
    });
    // Signed by the owner, but the replies would go to another connection's inbox.
    const elsewhere = connections[0] as NatsConnection;
    expect(await ask({ action: "watch", operationId: ref.id }, elsewhere)).toMatchObject({
      kind: "error",
      error: { type: "AuthError", reason: "reply_subject_mismatch" },
    });
  });
});

describe("durability and replicas", () => {
  it("after a restart, get returns the persisted snapshot and control(id) finishes a deferred operation the caller waits for", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "defer", label: "deferred" })).unwrap();
    await eventually("the handler to defer", () => handlerRuns.includes("deferred"));
    await sleep(100);
    const runs = handlerRuns.length;
    await serviceA.stop();
    const down = await ref.get();
    expect(down.isErr() && down.error).toBeInstanceOf(TransportError);

    serviceA = await openReplica();
    const persisted = (await ref.get()).unwrap();
    expect(persisted).toMatchObject({ id: ref.id, state: "pending", revision: 1 });
    const waiting = ref.wait();
    const op = (await serviceA.handle.operation.work.run.control(ref.id)).unwrap();
    expect((await op.started()).unwrap().revision).toBe(2);
    const invalid = await op.progress({ pct: 1000 });
    expect(invalid.isErr() && invalid.error).toBeInstanceOf(ValidationError);
    const badOutput = await op.complete({ done: 7 } as unknown as Output);
    expect(badOutput.isErr() && badOutput.error).toBeInstanceOf(ValidationError);
    await op.progress({ pct: 90 });
    (await op.complete({ done: "by control" })).unwrap();
    const done = (await within(waiting)).unwrap();
    expect(done).toMatchObject({ state: "completed", output: { done: "by control" }, revision: 4 });
    expect(handlerRuns.length).toBe(runs);
    const late = await op.fail(new UnexpectedError("too late"));
    expect(late.isErr() && late.error).toBeInstanceOf(OperationAlreadyTerminalError);
    const unknown = await serviceA.handle.operation.work.run.control(newUlid());
    expect(unknown.isErr() && unknown.error).toBeInstanceOf(OperationNotFoundError);
  });

  it("a second replica answers control requests for an operation started on the first", async () => {
    const ref = (await owner.operation.work.run.start({ mode: "block", label: "replicas" })).unwrap();
    await eventually("the handler to block", () => gates.has("replicas"));
    const replicaB = await openReplica({ mount: false });
    try {
      // Queue groups spread the watches over both replicas; the handler's transitions on A reach all.
      const watches = await Promise.all(Array.from({ length: 16 }, async () => (await ref.watch()).unwrap()));
      const streamsOnB = (replicaB as any).shared.operationServer.streams.size as number;
      expect(streamsOnB).toBeGreaterThan(0);
      expect(streamsOnB).toBeLessThan(16);
      const lists = Promise.all(watches.map((watch) => collect(watch)));
      open("replicas");
      for (const list of await within(lists)) {
        expect(list.map((event) => event.type)).toEqual([
          "accepted",
          "started",
          "progress",
          "progress",
          "completed",
        ]);
      }
      // A signal accepted by either replica reaches a control handle held elsewhere.
      const other = (await owner.operation.work.run.start({ mode: "defer", label: "cross" })).unwrap();
      const handle = (await replicaB.handle.operation.work.run.control(other.id)).unwrap();
      const next = handle.nextSignal("approve");
      await ref.get();
      (await other.signal("approve", { by: "bob" })).unwrap();
      expect((await within(next)).unwrap()).toMatchObject({
        signal: "approve",
        input: { by: "bob" },
        sequence: 1,
      });
      (await handle.complete({ done: "cross" })).unwrap();
      expect((await within(other.wait())).unwrap().output).toEqual({ done: "cross" });
    } finally {
      await replicaB.stop();
    }
  });
});

describe("keepalives", () => {
  const ticking = defineServiceContract(
    { schemas: { In: z.object({}), Out: z.object({ ok: z.boolean() }) } },
    (ref) => ({
      id: "ops.tick@v1",
      displayName: "Tick",
      description: "Never finishes on its own.",
      operations: { "Tick.Hold": { version: "v1", input: ref.schema("In"), output: ref.schema("Out") } },
    }),
  );

  it("sends keepalive frames on open watches and waits", async () => {
    const seed = generateSessionSeed();
    const nc = await participant(seed);
    const admin = connections[0] as NatsConnection;
    await new Kvm(admin).create("trellis_ops_tick", { history: 16 });
    const logger = resolveLogger(false);
    const store = (await OperationStore.open(nc, "trellis_ops_tick", logger)).unwrap();
    (await store.start()).unwrap();
    const server = new OperationServer({
      nc,
      contract: ticking,
      schemas: SchemaSet.of(ticking.CONTRACT),
      authenticator: new ProofCallerAuthenticator({ authority }),
      serviceName: "tick",
      store,
      keepaliveMs: 100,
      logger,
    });
    try {
      server.mount("Tick.Hold", ({ op }) => op.defer(), {});
      const client = TrellisClient.open({
        nc: owner.nc,
        contract: ticking,
        sessionKeySeed: ownerSeed,
        logger: false,
      });
      const ref = (await client.operation.tick.hold.start({})).unwrap();
      const subject = ticking.API.owned.operations["Tick.Hold"].controlSubject;
      const signer = new RequestSigner(ownerSeed, new ServerClock());
      for (const action of ["watch", "wait"] as const) {
        const inbox = createInbox(`_INBOX.${sessionKeyFromSeed(ownerSeed).slice(0, 16)}`);
        const frames: ControlFrame[] = [];
        const sub = owner.nc.subscribe(inbox, {
          callback: (_err, msg) => {
            frames.push(JSON.parse(new TextDecoder().decode(msg.data)) as ControlFrame);
          },
        });
        const payload = new TextEncoder().encode(JSON.stringify({ action, operationId: ref.id }));
        owner.nc.publish(subject, payload, { reply: inbox, headers: signer.headers(subject, payload) });
        await eventually(
          `keepalives on ${action}`,
          () => frames.filter((f) => f.kind === "keepalive").length >= 2,
        );
        sub.unsubscribe();
        expect(frames[0]?.kind).toBe(action === "watch" ? "snapshot" : "keepalive");
      }
    } finally {
      await server.stop();
    }
  });
});
