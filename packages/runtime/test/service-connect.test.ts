import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { Kvm } from "@nats-io/kv";
import { createUser } from "@nats-io/nkeys";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { defineAgentContract, defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import {
  generateSessionSeed,
  natsConnectValue,
  sessionKeyFromSeed,
  verifyDomainSignature,
} from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type ConnectServiceOptions,
  connectService,
  KVError,
  TransportError,
  TrellisClient,
  TrellisService,
} from "../src/index.js";

const Order = z.object({ id: z.string(), total: z.number() });
const orders = defineServiceContract(
  { schemas: { GetOrder: z.object({ id: z.string() }), Order } },
  (ref) => ({
    id: "orders@v1",
    displayName: "Orders",
    description: "Orders.",
    rpc: { "Orders.Get": { version: "v1", input: ref.schema("GetOrder"), output: ref.schema("Order") } },
    resources: { kv: { cache: { purpose: "Order cache", schema: ref.schema("Order") } } },
  }),
);
const cli = defineAgentContract({}, () => ({
  id: "orders-cli@v1",
  displayName: "Orders CLI",
  description: "Reads orders.",
  uses: { required: { orders: orders.use({ rpc: { call: ["Orders.Get"] } }) } },
}));

const BUCKET = "svc_orders_cache";
let nats: NatsServerHandle;
let monitorPort: number;
let platformNc: NatsConnection;
const sentinelSeed = new TextDecoder().decode(createUser().getSeed());

/** Connects the orders service through `trellisUrl`: a fresh seed and no logs unless `options` say otherwise. */
function connectOrders(trellisUrl: string, options: Partial<ConnectServiceOptions<typeof orders>> = {}) {
  return connectService({
    trellisUrl,
    contract: orders,
    name: "orders",
    sessionKeySeed: generateSessionSeed(),
    logger: false,
    ...options,
  });
}

/** A free loopback port (nothing listens on it when this resolves). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

interface Scripted {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** A scripted `POST /bootstrap/service` peer: replies in order, the last one repeating; records requests. */
class ScriptedBootstrap {
  readonly requests: Record<string, any>[] = [];
  private server?: Server;
  port = 0;

  constructor(private readonly replies: ((body: Record<string, any>) => Scripted)[]) {}

  async listen(port = 0): Promise<this> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let text = "";
      req.on("data", (chunk) => {
        text += chunk;
      });
      req.on("end", () => {
        const body = JSON.parse(text);
        const index = Math.min(this.requests.length, this.replies.length - 1);
        this.requests.push(req.url === "/bootstrap/service" ? body : { wrongUrl: req.url });
        const reply = this.replies[index]!(body);
        res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** The 200 reply for the service holding `seed`. */
function ready(seed: string, options: { bucket?: string; serverNow?: number } = {}): Scripted {
  return {
    status: 200,
    body: {
      status: "ready",
      serverNow: options.serverNow ?? Math.floor(Date.now() / 1000),
      connectInfo: {
        sessionKey: sessionKeyFromSeed(seed),
        contractId: orders.CONTRACT_ID,
        contractDigest: orders.CONTRACT_DIGEST,
        transports: { native: { natsServers: [nats.url] } },
        transport: { sentinel: { jwt: "sentinel-jwt", seed: sentinelSeed } },
        auth: { mode: "service_identity", iatSkewSeconds: 30 },
      },
      contract: { id: orders.CONTRACT_ID, digest: orders.CONTRACT_DIGEST },
      binding: {
        contractId: orders.CONTRACT_ID,
        digest: orders.CONTRACT_DIGEST,
        resources: { kv: { cache: { bucket: options.bucket ?? BUCKET, history: 1, ttlMs: 0 } } },
      },
    },
  };
}

const refuse =
  (status: number, reason: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>) =>
  (): Scripted => ({ status, body: { reason, ...extra }, ...(headers && { headers }) });

function captureLogger() {
  const lines: { level: number; msg: string; [key: string]: any }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

async function connectionCount(): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${monitorPort}/connz`);
  return ((await response.json()) as { num_connections: number }).num_connections;
}

beforeAll(async () => {
  monitorPort = await freePort();
  nats = await startNatsServer({ args: ["-m", String(monitorPort)] });
  platformNc = await connect({ servers: nats.url });
  await new Kvm(platformNc).create(BUCKET, { history: 1 });
});

afterAll(async () => {
  await platformNc?.close();
  await nats?.stop();
});

describe("TrellisService.connect", () => {
  it("waits through manifest_required and pending plans, then connects with the bound resources", async () => {
    const seed = generateSessionSeed();
    const peer = await new ScriptedBootstrap([
      refuse(409, "manifest_required"),
      refuse(202, "contract_activation_pending", {
        message: "Dependency 'x' references inactive contract 'y'",
      }),
      refuse(
        202,
        "authority_update_required",
        { planId: "plan_1", message: "New needs" },
        { "retry-after": "0" },
      ),
      refuse(
        202,
        "authority_update_required",
        { planId: "plan_1", message: "New needs" },
        { "retry-after": "0" },
      ),
      refuse(409, "contract_catalog_issue", { message: "RPC subject 'rpc.v1.Orders.Get' already owned" }),
      () => ready(seed),
    ]).listen();
    const { logger, lines } = captureLogger();
    const service = await TrellisService.connect({
      trellisUrl: `${peer.url}/`,
      contract: orders,
      name: "orders",
      sessionKeySeed: seed,
      logger,
      heartbeat: false,
      bootstrap: { retryAfterMaxMs: 50 },
    });
    try {
      const sessionKey = sessionKeyFromSeed(seed);
      expect(peer.requests).toHaveLength(6);
      expect(peer.requests[0]).not.toHaveProperty("contract");
      for (const request of peer.requests.slice(1)) expect(request.contract).toEqual(orders.CONTRACT);
      for (const request of peer.requests) {
        expect(request).toMatchObject({
          sessionKey,
          contractId: orders.CONTRACT_ID,
          contractDigest: orders.CONTRACT_DIGEST,
        });
        const value = natsConnectValue(request.iat, orders.CONTRACT_DIGEST);
        expect(verifyDomainSignature(sessionKey, "nats-connect", value, request.sig)).toBe(true);
      }

      const waits = lines.filter((line) => line.reason !== undefined);
      expect(waits.map((line) => line.reason)).toEqual([
        "contract_activation_pending",
        "authority_update_required",
        "contract_catalog_issue",
      ]);
      const plan = waits[1]!;
      expect(plan).toMatchObject({ level: 30, planId: "plan_1", detail: "New needs", retryInMs: 50 });
      expect(plan.msg).toContain("plan_1");
      expect(plan.msg).toContain("Auth.DeploymentAuthority.AcceptUpdate");
      expect(waits[0]!.msg).toMatch(/^Service contract activation pending/);

      // The bound bucket is open.
      const put = await service.kv.cache!.put("o1", { id: "o1", total: 7 });
      expect(put.isOk()).toBe(true);
      const raw = await (await new Kvm(platformNc).open(BUCKET)).get("o1");
      expect(raw?.json()).toEqual({ id: "o1", total: 7 });
      // The connection uses the session-scoped inbox prefix.
      expect((service.client.nc as any).options.inboxPrefix).toBe(`_INBOX.${sessionKey.slice(0, 16)}`);
    } finally {
      await service.stop();
      await peer.close();
    }
    await service.stop();
    expect(service.client.nc.isClosed()).toBe(true);
  });

  it("authenticates inbound requests through Auth.Requests.Validate", async () => {
    const seed = generateSessionSeed();
    const peer = await new ScriptedBootstrap([() => ready(seed)]).listen();
    const callerSeed = generateSessionSeed();
    const callerKey = sessionKeyFromSeed(callerSeed);
    const asked: string[] = [];
    const validate: Subscription = platformNc.subscribe("rpc.v1.Auth.Requests.Validate", {
      callback: (_error, msg) => {
        const input = JSON.parse(new TextDecoder().decode(msg.data));
        asked.push(`${msg.headers?.get("session-key")}:${input.sessionKey}`);
        msg.respond(
          JSON.stringify({
            allowed: true,
            inboxPrefix: `_INBOX.${String(input.sessionKey).slice(0, 16)}`,
            caller: {
              type: "service",
              id: "billing",
              name: "billing",
              active: true,
              capabilities: ["service"],
            },
          }),
        );
      },
    });
    const service = await connectOrders(peer.url, { sessionKeySeed: seed, heartbeat: false });
    const callerNc = await connect({ servers: nats.url, inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}` });
    try {
      service.handle.rpc.orders.get(async ({ input, context }) =>
        Result.ok({ id: `${input.id}:${context.caller.id}`, total: 1 }),
      );
      const client = TrellisClient.open({
        nc: callerNc,
        contract: cli,
        sessionKeySeed: callerSeed,
        logger: false,
      });
      const reply = await client.rpc.orders.get({ id: "o1" });
      expect(reply.isOk() && reply.value).toEqual({ id: "o1:billing", total: 1 });
      expect(asked).toEqual([`${sessionKeyFromSeed(seed)}:${callerKey}`]);
    } finally {
      validate.unsubscribe();
      await callerNc.close();
      await service.stop();
      await peer.close();
    }
  });

  it.each([
    [404, "unknown_service", "No service instance for this key"],
    [403, "service_disabled", "The instance is disabled"],
    [409, "presented_contract_invalid", "The manifest does not validate"],
  ])("fails with trellis.bootstrap.failed on %i %s, naming it", async (status, reason, message) => {
    const peer = await new ScriptedBootstrap([refuse(status, reason, { message })]).listen();
    try {
      const error = await connectOrders(peer.url).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TransportError);
      expect((error as TransportError).code).toBe("trellis.bootstrap.failed");
      expect((error as TransportError).message).toContain(reason);
      expect((error as TransportError).message).toContain(message);
      expect(peer.requests).toHaveLength(1);
    } finally {
      await peer.close();
    }
  });

  it("fails when the manifest is still required after presenting it", async () => {
    const peer = await new ScriptedBootstrap([refuse(409, "manifest_required")]).listen();
    try {
      await expect(connectOrders(peer.url)).rejects.toThrow(/manifest_required/);
      expect(peer.requests).toHaveLength(2);
      expect(peer.requests[1]?.contract).toEqual(orders.CONTRACT);
    } finally {
      await peer.close();
    }
  });

  it("fails on a malformed ready reply", async () => {
    const peer = await new ScriptedBootstrap([() => ({ status: 200, body: { status: "ready" } })]).listen();
    try {
      await expect(connectOrders(peer.url)).rejects.toThrow(/ready reply is malformed/);
    } finally {
      await peer.close();
    }
  });

  it("corrects its clock from serverNow on iat_out_of_range and retries", async () => {
    const seed = generateSessionSeed();
    const skewSeconds = 120;
    const serverNow = () => Math.floor(Date.now() / 1000) + skewSeconds;
    const check = (body: Record<string, any>): Scripted =>
      Math.abs(body.iat - serverNow()) > 30
        ? { status: 400, body: { reason: "iat_out_of_range", serverNow: serverNow() } }
        : ready(seed, { serverNow: serverNow() });
    const peer = await new ScriptedBootstrap([check, check]).listen();
    const { logger, lines } = captureLogger();
    const service = await connectOrders(peer.url, { sessionKeySeed: seed, logger, heartbeat: false });
    try {
      expect(peer.requests).toHaveLength(2);
      expect(Math.abs(peer.requests[1]!.iat - serverNow())).toBeLessThanOrEqual(2);
      const corrected = lines.find((line) => line.msg.startsWith("Service clock corrected"));
      expect(Math.abs(corrected?.offsetMs - skewSeconds * 1000)).toBeLessThan(2000);
    } finally {
      await service.stop();
      await peer.close();
    }
  });

  it("gives up when iat_out_of_range persists after one correction", async () => {
    const peer = await new ScriptedBootstrap([
      () => ({ status: 400, body: { reason: "iat_out_of_range", serverNow: 1_000_000 } }),
    ]).listen();
    try {
      await expect(connectOrders(peer.url)).rejects.toThrow(/iat_out_of_range/);
      expect(peer.requests).toHaveLength(2);
    } finally {
      await peer.close();
    }
  });

  it("backs off from 1 s, doubling, while the endpoint is unreachable", async () => {
    const seed = generateSessionSeed();
    const port = await freePort();
    const peer = new ScriptedBootstrap([() => ready(seed)]);
    const { logger, lines } = captureLogger();
    const started = Date.now();
    const connecting = connectOrders(`http://127.0.0.1:${port}`, {
      sessionKeySeed: seed,
      logger,
      heartbeat: false,
      bootstrap: { maxBackoffMs: 1500 },
    });
    // Attempts at ≈0 s and ≈1 s fail; the one at ≈2.5 s finds the endpoint.
    await new Promise((resolve) => setTimeout(resolve, 1800));
    await peer.listen(port);
    const service = await connecting;
    try {
      const retries = lines.filter((line) => line.msg === "Service bootstrap endpoint unavailable; retrying");
      expect(retries.map((line) => line.retryInMs)).toEqual([1000, 1500]);
      expect(retries.every((line) => line.level === 40)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
      expect(peer.requests).toHaveLength(1);
    } finally {
      await service.stop();
      await peer.close();
    }
  });

  it("stops waiting when the signal aborts", async () => {
    const peer = await new ScriptedBootstrap([
      refuse(202, "authority_reconciliation_pending", {}, { "retry-after": "60" }),
    ]).listen();
    const controller = new AbortController();
    try {
      const connecting = connectOrders(peer.url, { bootstrap: { signal: controller.signal } }).catch(
        (caught: unknown) => caught,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const abortedAt = Date.now();
      controller.abort();
      const error = await connecting;
      expect(Date.now() - abortedAt).toBeLessThan(500);
      expect(error).toBeInstanceOf(TransportError);
      expect((error as TransportError).code).toBe("trellis.bootstrap.aborted");
      expect(peer.requests).toHaveLength(1);
    } finally {
      await peer.close();
    }
  });

  it("drains the connection when opening the service fails after connecting", async () => {
    const seed = generateSessionSeed();
    const peer = await new ScriptedBootstrap([() => ready(seed, { bucket: "svc_orders_missing" })]).listen();
    const before = await connectionCount();
    try {
      const error = await connectOrders(peer.url, { sessionKeySeed: seed }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(KVError);
      expect((error as KVError).message).toContain("svc_orders_missing");
      const deadline = Date.now() + 2000;
      while ((await connectionCount()) !== before && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await connectionCount()).toBe(before);
    } finally {
      await peer.close();
    }
  });
});
