import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import { defineServiceContract } from "@trellis/contracts";
import { type BaseError, Result, UnexpectedError } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { InMemorySessionAuthority } from "../src/auth/caller.js";
import { ServerClock } from "../src/auth/clock.js";
import { AuthError, KVError, TransportError, ValidationError } from "../src/errors/errors.js";
import {
  FEED_STATUS_END,
  FEED_STATUS_READY,
  FeedClient,
  type FeedHandler,
  FeedServer,
  subscribeFeed,
} from "../src/feeds/index.js";
import { ProofCallerAuthenticator } from "../src/rpc/authenticator.js";
import { RequestSigner } from "../src/rpc/signer.js";
import { resolveLogger } from "../src/telemetry/logger.js";
import { SchemaSet } from "../src/validation/schemas.js";

const ticker = defineServiceContract(
  {
    schemas: {
      TickInput: z.object({
        count: z.int().min(0),
        mode: z.enum(["ok", "error", "throw", "emit-invalid"]).optional(),
      }),
      Tick: z.object({ n: z.int() }),
    },
  },
  (ref) => ({
    id: "ticker@v1",
    displayName: "Ticker",
    description: "Ticks.",
    capabilities: { watch: { displayName: "Watch", description: "Watch secret ticks." } },
    feeds: {
      "Ticks.Watch": { version: "v1", input: ref.schema("TickInput"), event: ref.schema("Tick") },
      "Ticks.Secret": {
        version: "v1",
        input: ref.schema("TickInput"),
        event: ref.schema("Tick"),
        capabilities: { subscribe: ["watch"] },
      },
      "Ticks.Forever": { version: "v1", input: ref.schema("TickInput"), event: ref.schema("Tick") },
      "Ticks.Silent": { version: "v1", input: ref.schema("TickInput"), event: ref.schema("Tick") },
      "Ticks.Raw": { version: "v1", input: ref.schema("TickInput"), event: ref.schema("Tick") },
      "Ticks.Nobody": { version: "v1", input: ref.schema("TickInput"), event: ref.schema("Tick") },
    },
  }),
);

const feeds = ticker.API.owned.feeds;
const schemas = SchemaSet.of(ticker.CONTRACT);
const logger = resolveLogger(false);
const authority = new InMemorySessionAuthority();
const callerSeed = generateSessionSeed();
const callerKey = sessionKeyFromSeed(callerSeed);
const signer = new RequestSigner(callerSeed, new ServerClock());
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let server: NatsServerHandle;
let serviceConn: NatsConnection;
let foreverConn: NatsConnection;
let rawConn: NatsConnection;
let callerConn: NatsConnection;
let feedServer: FeedServer<typeof ticker>;
let foreverServer: FeedServer<typeof ticker>;
const emitResults: Result<void, BaseError>[] = [];
const forever = { started: 0, abortedAfterStop: false, returned: false };
let lastSignal: AbortSignal | undefined;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Resolves with `value`, or rejects when `promise` takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);
}

async function collect<E>(iterable: AsyncIterable<E>, max = 100): Promise<E[]> {
  const out: E[] = [];
  for await (const item of iterable) {
    out.push(item);
    if (out.length >= max) break;
  }
  return out;
}

// The event type is widened so the handler can try an invalid event (emit is checked at run time).
const watch: FeedHandler<{ count: number; mode?: string }, { n: number | string }> = async ({
  input,
  emit,
  signal,
}) => {
  lastSignal = signal;
  for (let n = 0; n < input.count; n++) emit({ n });
  if (input.mode === "error") return Result.err(new KVError("boom", { operation: "get", reason: "gone" }));
  if (input.mode === "throw") throw new Error("kaput");
  if (input.mode === "emit-invalid") emitResults.push(emit({ n: "x" }));
  return Result.ok(undefined);
};

beforeAll(async () => {
  server = await startNatsServer();
  const prefix = `_INBOX.${callerKey.slice(0, 16)}`;
  [serviceConn, foreverConn, rawConn, callerConn] = await Promise.all([
    connect({ servers: server.url }),
    connect({ servers: server.url }),
    connect({ servers: server.url }),
    connect({ servers: server.url, inboxPrefix: prefix }),
  ]);
  authority.register(callerKey, {
    caller: { type: "user", id: "usr_1", capabilities: [] },
    inboxPrefix: prefix,
  });
  const common = {
    contract: ticker,
    schemas,
    authenticator: new ProofCallerAuthenticator({ authority }),
    serviceName: "ticker",
    logger,
  };
  feedServer = new FeedServer({ ...common, nc: serviceConn });
  feedServer.mount("Ticks.Watch", watch);
  feedServer.mount("Ticks.Secret", watch);
  foreverServer = new FeedServer({ ...common, nc: foreverConn, stopTimeoutMs: 2000 });
  foreverServer.mount("Ticks.Forever", async ({ emit, signal }) => {
    forever.started++;
    let n = 0;
    while (!signal.aborted) {
      emit({ n: n++ });
      await sleep(10, signal);
    }
    forever.abortedAfterStop = true;
    forever.returned = true;
  });
  // A service that takes subscribe requests and never answers.
  rawConn.subscribe("feeds.v1.Ticks.Silent", { callback: () => undefined });
  // A misbehaving service: a ready frame, one valid event, then one that breaks the schema.
  rawConn.subscribe("feeds.v1.Ticks.Raw", {
    callback: (_err, msg) => {
      if (!msg.reply) return;
      const h = natsHeaders();
      h.set("feed-status", "ready");
      rawConn.publish(msg.reply, new Uint8Array(0), { headers: h });
      rawConn.publish(msg.reply, encoder.encode(JSON.stringify({ n: 1 })));
      rawConn.publish(msg.reply, encoder.encode(JSON.stringify({ n: "two" })));
    },
  });
  await Promise.all([serviceConn.flush(), foreverConn.flush(), rawConn.flush()]);
});

afterAll(async () => {
  await feedServer?.stop();
  await foreverServer?.stop();
  await Promise.all([serviceConn, foreverConn, rawConn, callerConn].map((nc) => nc?.close()));
  await server?.stop();
});

function subscribe(
  name: keyof typeof feeds,
  input: unknown,
  extra: { timeoutMs?: number; signal?: AbortSignal } = {},
) {
  return subscribeFeed<{ n: number }>({
    nc: callerConn,
    signer,
    name,
    descriptor: feeds[name],
    schemas,
    input,
    ...extra,
  });
}

describe("feed wire protocol", () => {
  it("sends a ready frame first, then the events, then an end frame", async () => {
    const inbox = createInbox(`_INBOX.${callerKey.slice(0, 16)}`);
    const frames: Msg[] = [];
    const sub: Subscription = callerConn.subscribe(inbox, { max: 4 });
    const payload = encoder.encode(JSON.stringify({ count: 2 }));
    const subject = "feeds.v1.Ticks.Watch";
    callerConn.publish(subject, payload, { reply: inbox, headers: signer.headers(subject, payload) });
    await within(
      (async () => {
        for await (const msg of sub) frames.push(msg);
      })(),
    );
    expect(frames.map((m) => m.headers?.get("feed-status") ?? "")).toEqual([
      FEED_STATUS_READY,
      "",
      "",
      FEED_STATUS_END,
    ]);
    expect(frames[0]?.data.length).toBe(0);
    expect(frames.slice(1, 3).map((m) => JSON.parse(decoder.decode(m.data)))).toEqual([{ n: 0 }, { n: 1 }]);
    expect(frames[3]?.data.length).toBe(0);
  });
});

describe("feed client", () => {
  it("iterates validated events until the end frame, and the handler's signal aborts on return", async () => {
    const result = await subscribe("Ticks.Watch", { count: 3 });
    expect(result.isOk()).toBe(true);
    if (!result.isOk()) return;
    const sub = result.value;
    expect(sub.inbox.startsWith(`_INBOX.${callerKey.slice(0, 16)}.`)).toBe(true);
    expect(await within(collect(sub))).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(sub.endReason).toBe("end");
    expect(sub.error).toBeUndefined();
    expect(await sub.ended).toBeUndefined();
    expect(lastSignal?.aborted).toBe(true);
  });

  it("works through FeedClient too", async () => {
    const client = new FeedClient({ nc: callerConn, signer, timeoutMs: 2000 });
    const result = await client.subscribe<{ n: number }>("Ticks.Watch", feeds["Ticks.Watch"], schemas, {
      count: 1,
    });
    expect(result.isOk() && (await within(collect(result.value)))).toEqual([{ n: 0 }]);
  });

  it("ends with the decoded error after a handler's Result.err", async () => {
    const result = await subscribe("Ticks.Watch", { count: 2, mode: "error" });
    if (!result.isOk()) throw result.error;
    expect(await within(collect(result.value))).toEqual([{ n: 0 }, { n: 1 }]);
    expect(result.value.endReason).toBe("error");
    expect(result.value.error).toBeInstanceOf(KVError);
    expect((result.value.error as KVError).reason).toBe("gone");
    expect(result.value.error?.context).toMatchObject({ feed: "Ticks.Watch", contractId: "ticker@v1" });
  });

  it("ends with UnexpectedError when the handler throws", async () => {
    const result = await subscribe("Ticks.Watch", { count: 1, mode: "throw" });
    if (!result.isOk()) throw result.error;
    expect(await within(collect(result.value))).toEqual([{ n: 0 }]);
    expect(result.value.error).toBeInstanceOf(UnexpectedError);
  });

  it("refuses an invalid event in emit, sending nothing", async () => {
    emitResults.length = 0;
    const result = await subscribe("Ticks.Watch", { count: 0, mode: "emit-invalid" });
    if (!result.isOk()) throw result.error;
    expect(await within(collect(result.value))).toEqual([]);
    expect(result.value.endReason).toBe("end");
    expect(emitResults).toHaveLength(1);
    expect(emitResults[0]?.isErr() && emitResults[0].error).toBeInstanceOf(ValidationError);
  });

  it("ends with a ValidationError on a frame that breaks the event schema", async () => {
    const result = await subscribe("Ticks.Raw", { count: 0 });
    if (!result.isOk()) throw result.error;
    expect(await within(collect(result.value))).toEqual([{ n: 1 }]);
    expect(result.value.endReason).toBe("error");
    expect(result.value.error).toBeInstanceOf(ValidationError);
  });

  it("refuses invalid input locally", async () => {
    const result = await subscribe("Ticks.Watch", { count: -1 });
    expect(result.isErr() && result.error).toBeInstanceOf(ValidationError);
  });

  it("maps an authentication refusal before ready to AuthError", async () => {
    const result = await subscribe("Ticks.Secret", { count: 1 });
    expect(result.isErr() && result.error).toBeInstanceOf(AuthError);
    expect(result.isErr() && (result.error as AuthError).reason).toBe("insufficient_permissions");
  });

  it("lets a caller holding the capability subscribe", async () => {
    const seed = generateSessionSeed();
    const key = sessionKeyFromSeed(seed);
    const prefix = `_INBOX.${key.slice(0, 16)}`;
    authority.register(key, {
      caller: { type: "user", id: "usr_2", capabilities: ["ticker::watch"] },
      inboxPrefix: prefix,
    });
    const nc = await connect({ servers: server.url, inboxPrefix: prefix });
    try {
      const result = await subscribeFeed<{ n: number }>({
        nc,
        signer: new RequestSigner(seed, new ServerClock()),
        name: "Ticks.Secret",
        descriptor: feeds["Ticks.Secret"],
        schemas,
        input: { count: 2 },
      });
      expect(result.isOk() && (await within(collect(result.value)))).toEqual([{ n: 0 }, { n: 1 }]);
    } finally {
      await nc.close();
    }
  });

  it("times out when nobody answers", async () => {
    const started = Date.now();
    const result = await subscribe("Ticks.Silent", { count: 1 }, { timeoutMs: 300 });
    expect(result.isErr() && result.error).toBeInstanceOf(TransportError);
    expect(result.isErr() && (result.error as TransportError).code).toBe("trellis.feed.subscribe_timeout");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("fails fast when no service subscribes at all", async () => {
    const result = await subscribe("Ticks.Nobody", { count: 1 }, { timeoutMs: 2000 });
    expect(result.isErr() && result.error).toBeInstanceOf(TransportError);
    expect(result.isErr() && (result.error as TransportError).code).toBe("trellis.feed.failed");
    expect(result.isErr() && result.error.context).toMatchObject({ reason: "no_responders" });
  });

  it("aborts the handshake through the signal", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const result = await subscribe(
      "Ticks.Silent",
      { count: 1 },
      { signal: controller.signal, timeoutMs: 2000 },
    );
    expect(result.isErr() && (result.error as TransportError).code).toBe("trellis.feed.subscribe_aborted");
    const already = await subscribe("Ticks.Silent", { count: 1 }, { signal: controller.signal });
    expect(already.isErr() && (already.error as TransportError).code).toBe("trellis.feed.subscribe_aborted");
  });

  it("ends an open feed on close() and on abort", async () => {
    const closed = await subscribe("Ticks.Forever", { count: 0 });
    if (!closed.isOk()) throw closed.error;
    const firstTwo = await within(collect(closed.value, 2));
    expect(firstTwo).toEqual([{ n: 0 }, { n: 1 }]);
    closed.value.close();
    expect(await within(collect(closed.value))).toEqual([]);
    expect(closed.value.endReason).toBe("closed");

    const controller = new AbortController();
    const aborted = await subscribe("Ticks.Forever", { count: 0 }, { signal: controller.signal });
    if (!aborted.isOk()) throw aborted.error;
    const seen: { n: number }[] = [];
    for await (const tick of aborted.value) {
      seen.push(tick);
      if (seen.length === 3) controller.abort();
    }
    expect(seen).toHaveLength(3);
    expect(aborted.value.endReason).toBe("aborted");
    expect(aborted.value.error).toBeUndefined();
  });

  it("aborts running handlers' signals when the server stops", async () => {
    const result = await subscribe("Ticks.Forever", { count: 0 });
    if (!result.isOk()) throw result.error;
    expect(foreverServer.activeCount).toBeGreaterThan(0);
    await within(foreverServer.stop());
    expect(forever.returned).toBe(true);
    expect(foreverServer.activeCount).toBe(0);
    // The end frame still reaches the subscriber after its events.
    await within(collect(result.value, 10_000));
    expect(result.value.endReason).toBe("end");
  });
});
