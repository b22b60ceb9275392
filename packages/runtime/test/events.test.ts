/**
 * Events over a real nats-server with JetStream: publishing and de-duplication, ephemeral and durable
 * listeners, the SQLite/KV/memory outboxes with their dispatcher, and the inboxes. The test plays the
 * platform's part: it creates the `trellis` stream and the durable consumers with `jetstreamManager`.
 * This file registers a global OTel tracer provider and propagator (vitest gives each file its own
 * worker) and unregisters them in afterAll.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import { propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { defineServiceContract, EVENTS_STREAM, EVENTS_STREAM_SUBJECTS } from "@trellis/contracts";
import { BaseError, Result } from "@trellis/result";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  dispatchOutbox,
  EventConsumerGroupError,
  EventConsumerGroupRunner,
  type EventListenerContext,
  EventPublisher,
  KvInboxRepository,
  KvOutboxRepository,
  listenEphemeral,
  MemoryOutboxRepository,
  OutboxDispatcher,
  type PreparedEvent,
  SqliteInboxRepository,
  SqliteOutboxRepository,
} from "../src/events/index.js";
import { Metrics, resolveLogger, SchemaSet, TransportError, ValidationError } from "../src/index.js";

const Header = z.object({ id: z.string(), time: z.iso.datetime({ offset: true }) });
const OrderCreated = z.object({
  header: Header,
  orderId: z.string(),
  tenant: z.string(),
  total: z.int().min(0),
});
const OrderMoved = z.object({ header: Header, orderId: z.string(), region: z.string().optional() });
const OrderShipped = z.object({ header: Header, orderId: z.string() });
const OrderCancelled = z.object({ header: Header, orderId: z.string(), reason: z.string() });

const shop = defineServiceContract(
  { schemas: { OrderCreated, OrderMoved, OrderShipped, OrderCancelled } },
  (ref) => ({
    id: "shop@v1",
    displayName: "Shop",
    description: "Sells things.",
    events: {
      "Orders.Created": { version: "v1", event: ref.schema("OrderCreated"), params: ["/tenant"] },
      "Orders.Moved": { version: "v1", event: ref.schema("OrderMoved"), params: ["/region"] },
      "Orders.Shipped": { version: "v1", event: ref.schema("OrderShipped") },
      "Orders.Cancelled": { version: "v1", event: ref.schema("OrderCancelled") },
    },
    eventConsumers: { projector: { self: ["Orders.Shipped", "Orders.Cancelled"] } },
  }),
);

type Shipped = z.infer<typeof OrderShipped>;

const logger = resolveLogger(false);
const schemas = SchemaSet.of(shop.CONTRACT);
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const encoder = new TextEncoder();

let server: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let publisher: EventPublisher<typeof shop>;
let tempDir: string;
const cleanups: (() => Promise<void> | void)[] = [];

/** How many messages the `trellis` stream holds on `subject`. */
async function storedOn(subject: string, stream = EVENTS_STREAM): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

beforeAll(async () => {
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  expect(propagation.setGlobalPropagator(new W3CTraceContextPropagator())).toBe(true);
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: EVENTS_STREAM,
    subjects: [EVENTS_STREAM_SUBJECTS],
    duplicate_window: nanos(120_000),
  });
  publisher = new EventPublisher({ js, contract: shop, schemas, logger });
  tempDir = mkdtempSync(join(tmpdir(), "trellis-events-"));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await nc?.close();
  await server?.stop();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  trace.disable();
  propagation.disable();
});

describe("publishing", () => {
  it("publishes with a JetStream ack, Nats-Msg-Id = header.id and trace context", async () => {
    const ack = await publisher.publish("Orders.Created", { orderId: "o-1", tenant: "acme", total: 5 });
    expect(ack.isOk()).toBe(true);
    if (!ack.isOk()) return;
    expect(ack.value).toMatchObject({ stream: EVENTS_STREAM, duplicate: false });
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: ack.value.seq });
    expect(stored?.subject).toBe("events.v1.Orders.Created.acme");
    const body = stored?.json<{ header: { id: string; time: string }; orderId: string }>();
    expect(body?.orderId).toBe("o-1");
    expect(body?.header.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(stored?.header.get("Nats-Msg-Id")).toBe(body?.header.id);
    const traceparent = stored?.header.get("traceparent") ?? "";
    const span = exporter.getFinishedSpans().find((s) => s.name === "event.publish.Orders.Created");
    expect(span).toBeDefined();
    expect(traceparent).toContain(span?.spanContext().traceId);
  });

  it("prepares plain, frozen data with the header, subject and headers", () => {
    const prepared = publisher.prepare("Orders.Created", { orderId: "o-2", tenant: "a.b", total: 1 });
    expect(prepared.isOk()).toBe(true);
    if (!prepared.isOk()) return;
    const event = prepared.value;
    expect(event.event).toBe("Orders.Created");
    expect(event.subject).toBe("events.v1.Orders.Created.a~2E~b");
    expect(Object.isFrozen(event.payload)).toBe(true);
    expect(Object.isFrozen(event.payload.header)).toBe(true);
    expect(event.headers["Nats-Msg-Id"]).toBe(event.payload.header.id);
    expect(event.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(JSON.parse(new TextDecoder().decode(event.encodedPayload))).toEqual(event.payload);
  });

  it("dedupes by Nats-Msg-Id: publishing one prepared event twice stores one message", async () => {
    const prepared = publisher.prepare("Orders.Created", { orderId: "o-3", tenant: "dedupe", total: 2 });
    if (!prepared.isOk()) throw prepared.error;
    const first = await publisher.publishPrepared(prepared.value);
    const second = await publisher.publishPrepared(prepared.value);
    expect(first.isOk() && first.value.duplicate).toBe(false);
    expect(second.isOk() && second.value.duplicate).toBe(true);
    expect(second.isOk() && first.isOk() && second.value.seq).toBe(first.isOk() && first.value.seq);
    expect(await storedOn("events.v1.Orders.Created.dedupe")).toBe(1);
  });

  it("refuses schema-invalid data locally and sends nothing", async () => {
    const before = (await jsm.streams.info(EVENTS_STREAM)).state.messages;
    const result = await publisher.publish("Orders.Created", { orderId: "o-4", tenant: "acme", total: -1 });
    expect(result.isErr() && result.error).toBeInstanceOf(ValidationError);
    if (result.isErr() && result.error instanceof ValidationError) {
      expect(result.error.issues[0]?.path).toBe("/total");
    }
    expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(before);
  });

  it("refuses missing subject data with a ValidationError", () => {
    const result = publisher.prepare("Orders.Moved", { orderId: "o-5" });
    expect(result.isErr() && result.error).toBeInstanceOf(ValidationError);
    expect(result.isErr() && result.error.message).toMatch(/Missing required data for subject template/);
    expect(publisher.prepare("Orders.Moved", { orderId: "o-5", region: "eu" }).isOk()).toBe(true);
  });

  it("reports a publish nobody stores as a TransportError", async () => {
    const prepared = publisher.prepare("Orders.Created", { orderId: "o-6", tenant: "x", total: 0 });
    if (!prepared.isOk()) throw prepared.error;
    const result = await publisher.publishPrepared({ ...prepared.value, subject: "nowhere.orders" });
    expect(result.isErr() && result.error).toBeInstanceOf(TransportError);
  });
});

describe("ephemeral listener", () => {
  it("receives matching events, skips invalid payloads and stops on abort", async () => {
    const received: { orderId: string; context: EventListenerContext }[] = [];
    const controller = new AbortController();
    const listener = await listenEphemeral(nc, {
      contract: shop,
      schemas,
      eventName: "Orders.Created",
      subjectData: { tenant: "eph" },
      signal: controller.signal,
      logger,
      handler: (event, context) => {
        received.push({ orderId: event.orderId, context });
        if (event.orderId === "throws") throw new Error("handler failure is only logged");
      },
    });
    expect(listener.subject).toBe("events.v1.Orders.Created.eph");

    const first = await publisher.publish("Orders.Created", { orderId: "e-1", tenant: "eph", total: 1 });
    await publisher.publish("Orders.Created", { orderId: "other", tenant: "elsewhere", total: 1 });
    nc.publish("events.v1.Orders.Created.eph", encoder.encode("not json"));
    nc.publish("events.v1.Orders.Created.eph", encoder.encode(JSON.stringify({ orderId: 7 })));
    await publisher.publish("Orders.Created", { orderId: "throws", tenant: "eph", total: 1 });
    await publisher.publish("Orders.Created", { orderId: "e-2", tenant: "eph", total: 1 });
    await vi.waitFor(() => expect(received.map((r) => r.orderId)).toEqual(["e-1", "throws", "e-2"]), {
      timeout: 5000,
    });
    expect(received[0]?.context).toMatchObject({
      mode: "ephemeral",
      subject: "events.v1.Orders.Created.eph",
    });
    const stored = first.isOk()
      ? await jsm.streams.getMessage(EVENTS_STREAM, { seq: first.value.seq })
      : null;
    expect(received[0]?.context.id).toBe(stored?.header.get("Nats-Msg-Id"));

    controller.abort();
    await listener.stop();
    await publisher.publish("Orders.Created", { orderId: "e-3", tenant: "eph", total: 1 });
    await nc.flush();
    await sleep(200);
    expect(received.map((r) => r.orderId)).toEqual(["e-1", "throws", "e-2"]);
  });

  it("throws for an event the contract does not declare", async () => {
    await expect(
      listenEphemeral(nc, {
        contract: shop,
        schemas,
        eventName: "Orders.Nope" as "Orders.Created",
        logger,
        handler: () => undefined,
      }),
    ).rejects.toThrow(/not declared/);
  });
});

describe("durable consumer group", () => {
  const consumerName = "shop-projector";
  const binding = {
    stream: EVENTS_STREAM,
    consumerName,
    filterSubjects: ["events.v1.Orders.Cancelled", "events.v1.Orders.Shipped"],
  };

  beforeAll(async () => {
    // The platform's reconciliation provisions this consumer; the service only binds to it.
    await jsm.consumers.add(EVENTS_STREAM, {
      durable_name: consumerName,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subjects: binding.filterSubjects,
      max_deliver: 4,
      max_ack_pending: 1,
      backoff: [nanos(250), nanos(5000), nanos(5000)],
    });
  });

  it("starts only when every event of the group has a handler, and refuses strangers", async () => {
    const runner = new EventConsumerGroupRunner({
      js,
      contract: shop,
      group: "projector",
      binding,
      schemas,
      logger,
    });
    expect(runner.events.sort()).toEqual(["Orders.Cancelled", "Orders.Shipped"]);
    runner.register("Orders.Shipped", () => undefined);
    expect(() => runner.register("Orders.Created", () => undefined)).toThrow(
      /not part of event consumer group 'projector'/,
    );
    expect(() => runner.register("Orders.Shipped", () => undefined)).toThrow(/already has a handler/);
    const refused = await runner.start();
    expect(refused.isErr() && refused.error).toBeInstanceOf(EventConsumerGroupError);
    if (refused.isErr()) {
      expect(refused.error.reason).toBe("handlers_missing");
      expect(refused.error.missing).toEqual(["Orders.Cancelled"]);
      expect(refused.error.message).toContain("'Orders.Cancelled'");
    }
    expect(runner.started).toBe(false);
    expect(
      () => new EventConsumerGroupRunner({ js, contract: shop, group: "nope", binding, schemas, logger }),
    ).toThrow(/no event consumer group 'nope'/);
  });

  it("refuses to start when the durable consumer does not exist (it never creates one)", async () => {
    const runner = new EventConsumerGroupRunner({
      js,
      contract: shop,
      group: "projector",
      binding: { stream: EVENTS_STREAM, consumerName: "not-provisioned" },
      schemas,
      logger,
    });
    runner.register("Orders.Shipped", () => undefined).register("Orders.Cancelled", () => undefined);
    const result = await runner.start();
    expect(result.isErr() && result.error.reason).toBe("consumer_unavailable");
    const names: string[] = [];
    for await (const info of jsm.consumers.list(EVENTS_STREAM)) names.push(info.name);
    expect(names).not.toContain("not-provisioned");
  });

  it("acks successes, naks handler errors (redelivered) and terms invalid events", async () => {
    const seen: { orderId: string; deliveryCount?: number; sequence?: number; group?: string }[] = [];
    const cancelled: string[] = [];
    const metrics = new Metrics();
    const runner = new EventConsumerGroupRunner({
      js,
      contract: shop,
      group: "projector",
      binding,
      schemas,
      logger,
      metrics,
    });
    runner.register("Orders.Shipped", (event: Shipped, context) => {
      seen.push({
        orderId: event.orderId,
        deliveryCount: context.deliveryCount,
        sequence: context.sequence,
        ...(context.group && { group: context.group }),
      });
      if (event.orderId === "flaky" && context.deliveryCount === 1) {
        return Result.err(new BaseError("transient failure"));
      }
      if (event.orderId === "throws" && context.deliveryCount === 1) throw new Error("boom");
      return Result.ok(undefined);
    });
    runner.register("Orders.Cancelled", async (event) => {
      cancelled.push(event.reason);
    });
    const started = await runner.start();
    expect(started.isOk()).toBe(true);
    cleanups.push(() => runner.stop());

    // A schema-invalid event, published raw: it must be terminated, never reaching the handler.
    const bad = await js.publish("events.v1.Orders.Shipped", encoder.encode(JSON.stringify({ orderId: 42 })));
    await publisher.publish("Orders.Shipped", { orderId: "flaky" });
    await publisher.publish("Orders.Shipped", { orderId: "throws" });
    await publisher.publish("Orders.Cancelled", { orderId: "c-1", reason: "changed mind" });
    await publisher.publish("Orders.Shipped", { orderId: "fine" });

    await vi.waitFor(
      () => {
        expect(seen.map((s) => `${s.orderId}#${s.deliveryCount}`)).toEqual([
          "flaky#1",
          "flaky#2",
          "throws#1",
          "throws#2",
          "fine#1",
        ]);
        expect(cancelled).toEqual(["changed mind"]);
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(seen[0]).toMatchObject({ group: "projector", sequence: bad.seq + 1 });
    expect(seen.some((s) => s.sequence === bad.seq)).toBe(false);

    await vi.waitFor(
      async () => {
        const info = await jsm.consumers.info(EVENTS_STREAM, consumerName);
        expect(info.num_ack_pending).toBe(0);
        expect(info.num_pending).toBe(0);
        expect(info.num_redelivered).toBe(0);
      },
      { timeout: 5000, interval: 50 },
    );
    // Bounded check that the terminated message is not redelivered later (the first backoff is 250 ms).
    await sleep(700);
    expect(seen.some((s) => s.sequence === bad.seq)).toBe(false);
    expect((await jsm.consumers.info(EVENTS_STREAM, consumerName)).num_ack_pending).toBe(0);
    const exposed = await metrics.expose();
    expect(exposed).toContain('trellis_events_handled_total{event="Orders.Shipped",outcome="term"} 1');
    expect(exposed).toContain('trellis_events_handled_total{event="Orders.Shipped",outcome="nak"} 2');
    expect(exposed).toContain('trellis_events_handled_total{event="Orders.Shipped",outcome="ack"} 3');

    await runner.stop();
    expect(runner.started).toBe(false);
    // Stopped: a new event waits in the consumer for the next start.
    await publisher.publish("Orders.Shipped", { orderId: "later" });
    await sleep(200);
    expect(seen.map((s) => s.orderId)).not.toContain("later");
    expect((await runner.start()).isOk()).toBe(true);
    await vi.waitFor(() => expect(seen.map((s) => s.orderId)).toContain("later"), { timeout: 5000 });
    await runner.stop();
  });
});

describe("outbox", () => {
  let db: Database.Database;
  let outbox: SqliteOutboxRepository;

  beforeAll(() => {
    db = new Database(join(tempDir, "outbox.sqlite"));
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE orders (id TEXT PRIMARY KEY)");
    outbox = new SqliteOutboxRepository(db);
    outbox.ensureSchema();
    outbox.ensureSchema();
    cleanups.push(() => {
      db.close();
    });
  });

  function created(orderId: string, tenant: string): PreparedEvent {
    const prepared = publisher.prepare("Orders.Created", { orderId, tenant, total: 1 });
    if (!prepared.isOk()) throw prepared.error;
    return prepared.value;
  }

  function stateOf(id: string): { state: string; attempts: number; last_error: string | null } | undefined {
    return db.prepare("SELECT state, attempts, last_error FROM trellis_outbox WHERE id = ?").get(id) as
      | { state: string; attempts: number; last_error: string | null }
      | undefined;
  }

  it("publishes an event added in a committed transaction exactly once (commit, then notify)", async () => {
    const dispatcher = new OutboxDispatcher({ repository: outbox, publisher, logger });
    cleanups.push(() => dispatcher.stop());
    const placeOrder = db.transaction((orderId: string) => {
      db.prepare("INSERT INTO orders (id) VALUES (?)").run(orderId);
      const event = created(orderId, "outbox-sql");
      outbox.add(event);
      return event;
    });
    const event = placeOrder("s-1");
    dispatcher.notify(); // after the commit
    dispatcher.notify();
    await vi.waitFor(() => expect(stateOf(event.headers["Nats-Msg-Id"] ?? "")?.state).toBe("dispatched"), {
      timeout: 5000,
    });
    dispatcher.notify();
    await dispatcher.drain();
    expect(await storedOn("events.v1.Orders.Created.outbox-sql")).toBe(1);
    expect(stateOf(event.headers["Nats-Msg-Id"] ?? "")).toMatchObject({ state: "dispatched", attempts: 1 });
  });

  it("never publishes an event added in a rolled-back transaction", async () => {
    const dispatcher = new OutboxDispatcher({ repository: outbox, publisher, logger });
    cleanups.push(() => dispatcher.stop());
    let id = "";
    const placeOrder = db.transaction((orderId: string) => {
      db.prepare("INSERT INTO orders (id) VALUES (?)").run(orderId);
      const event = created(orderId, "outbox-rollback");
      id = event.headers["Nats-Msg-Id"] ?? "";
      outbox.add(event);
      throw new Error("business rule failed");
    });
    expect(() => placeOrder("s-2")).toThrow("business rule failed");
    dispatcher.notify();
    await dispatcher.drain();
    expect(stateOf(id)).toBeUndefined();
    expect(await storedOn("events.v1.Orders.Created.outbox-rollback")).toBe(0);
  });

  it("retries a failed publish on its timer until it succeeds", async () => {
    const dispatcher = new OutboxDispatcher({ repository: outbox, publisher, logger, retryDelayMs: 200 });
    cleanups.push(() => dispatcher.stop());
    // No stream captures this subject yet, so the first publish fails for real.
    const event: PreparedEvent = { ...created("s-3", "outbox-retry"), subject: "outbox-retry.orders" };
    const id = event.headers["Nats-Msg-Id"] ?? "";
    db.transaction(() => outbox.add(event))();
    dispatcher.notify();
    await dispatcher.drain();
    expect(stateOf(id)).toMatchObject({ state: "failed", attempts: 1 });
    expect(stateOf(id)?.last_error).toMatch(/outbox-retry\.orders/);

    await jsm.streams.add({ name: "OUTBOX_RETRY", subjects: ["outbox-retry.>"] });
    await vi.waitFor(() => expect(stateOf(id)?.state).toBe("dispatched"), { timeout: 15_000, interval: 50 });
    expect(stateOf(id)?.attempts).toBeGreaterThanOrEqual(2);
    expect(await storedOn("outbox-retry.orders", "OUTBOX_RETRY")).toBe(1);
  });

  it("dispatchOutbox claims, publishes and marks entries of the memory outbox", async () => {
    const memory = new MemoryOutboxRepository();
    const a = created("m-1", "outbox-mem");
    const b = created("m-2", "outbox-mem");
    memory.add(a);
    memory.add(b);
    memory.add(a);
    const report = await dispatchOutbox(memory, publisher, { limit: 25 });
    expect(report).toEqual({ claimed: 2, dispatched: 2, duplicates: 0, failed: 0 });
    expect(memory.stateOf(a.headers["Nats-Msg-Id"] ?? "")).toBe("dispatched");
    expect(await dispatchOutbox(memory, publisher)).toMatchObject({ claimed: 0 });
    expect(await storedOn("events.v1.Orders.Created.outbox-mem")).toBe(2);
  });

  describe("NATS KV", () => {
    let bucket: KV;

    beforeAll(async () => {
      bucket = await new Kvm(nc).create("test_outbox", { history: 1 });
    });

    it("claims with CAS (one winner), re-claims after the lease and dispatches", async () => {
      const first = new KvOutboxRepository(bucket, { claimLeaseMs: 500 });
      const second = new KvOutboxRepository(bucket, { claimLeaseMs: 500 });
      const a = created("k-1", "outbox-kv");
      const b = created("k-2", "outbox-kv");
      await first.add(a);
      await first.add(b);
      await second.add(a); // idempotent
      const ids = [a, b].map((event) => event.headers["Nats-Msg-Id"] ?? "");

      const now = new Date();
      const [left, right] = await Promise.all([first.claimDue(10, now), second.claimDue(10, now)]);
      const claimed = [...left, ...right].map((entry) => entry.id).sort();
      expect(claimed).toEqual([...ids].sort());
      expect((await first.recordOf(ids[0] ?? ""))?.state).toBe("claimed");
      expect(await first.claimDue(10, now)).toEqual([]);

      // A dispatcher that died keeps nothing: after the lease the entries are due again.
      const later = () => new Date(now.getTime() + 1000);
      const report = await dispatchOutbox(second, publisher, { now: later });
      expect(report).toMatchObject({ claimed: 2, dispatched: 2 });
      for (const id of ids) expect((await first.recordOf(id))?.state).toBe("dispatched");
      expect(await first.claimDue(10, new Date(now.getTime() + 60_000))).toEqual([]);
      expect(await storedOn("events.v1.Orders.Created.outbox-kv")).toBe(2);
    });

    it("marks failures with a retry time", async () => {
      const repo = new KvOutboxRepository(bucket);
      const event: PreparedEvent = { ...created("k-3", "outbox-kv-fail"), subject: "nowhere.kv" };
      const id = event.headers["Nats-Msg-Id"] ?? "";
      await repo.add(event);
      const now = new Date();
      const report = await dispatchOutbox(repo, publisher, { now: () => now, retryDelayMs: 5000 });
      expect(report).toMatchObject({ claimed: 1, failed: 1 });
      expect(await repo.recordOf(id)).toMatchObject({
        state: "failed",
        attempts: 1,
        nextAttemptAt: now.getTime() + 5000,
      });
      expect(await repo.claimDue(10, new Date(now.getTime() + 4000))).toEqual([]);
      const due = await repo.claimDue(10, new Date(now.getTime() + 5000));
      expect(due.map((entry) => [entry.id, entry.attempts, entry.state])).toEqual([[id, 1, "failed"]]);
    });
  });
});

describe("inbox", () => {
  it("SQLite: true the first time only; a rolled-back record does not count", () => {
    const db = new Database(join(tempDir, "inbox.sqlite"));
    cleanups.push(() => {
      db.close();
    });
    const inbox = new SqliteInboxRepository(db);
    inbox.ensureSchema();
    expect(inbox.recordSync("m-1")).toBe(true);
    expect(inbox.recordSync("m-1")).toBe(false);
    const handle = db.transaction((id: string) => {
      inbox.recordSync(id);
      throw new Error("handler failed");
    });
    expect(() => handle("m-2")).toThrow("handler failed");
    expect(inbox.recordSync("m-2")).toBe(true);
  });

  it("SQLite: record() resolves the same way", async () => {
    const db = new Database(join(tempDir, "inbox-async.sqlite"));
    cleanups.push(() => {
      db.close();
    });
    const inbox = new SqliteInboxRepository(db);
    inbox.ensureSchema();
    expect(await inbox.record("x")).toBe(true);
    expect(await inbox.record("x")).toBe(false);
  });

  it("NATS KV: exactly one concurrent record wins", async () => {
    const bucket = await new Kvm(nc).create("test_inbox", { history: 1 });
    const inbox = new KvInboxRepository(bucket);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => inbox.record("01JEVENTID0000000000000000")),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await inbox.record("01JEVENTID0000000000000000")).toBe(false);
    expect(await inbox.record("weird id with.dots")).toBe(true);
    expect(await inbox.record("weird id with.dots")).toBe(false);
  });
});
