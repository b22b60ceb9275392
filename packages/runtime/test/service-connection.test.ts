import { connect, type NatsConnection } from "@nats-io/transport-node";
import { defineAgentContract, defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  InMemorySessionAuthority,
  ProofCallerAuthenticator,
  TrellisClient,
  TrellisService,
} from "../src/index.js";

const Echo = z.object({ text: z.string() });
const alpha = defineServiceContract({ schemas: { Echo } }, (ref) => ({
  id: "alpha@v1",
  displayName: "Alpha",
  description: "Echoes.",
  rpc: { "Alpha.Echo": { version: "v1", input: ref.schema("Echo"), output: ref.schema("Echo") } },
}));
const beta = defineServiceContract({ schemas: { Echo } }, (ref) => ({
  id: "beta@v1",
  displayName: "Beta",
  description: "Echoes.",
  rpc: { "Beta.Echo": { version: "v1", input: ref.schema("Echo"), output: ref.schema("Echo") } },
}));
const caller = defineAgentContract({}, () => ({
  id: "echo-caller@v1",
  displayName: "Echo caller",
  description: "Calls both.",
  uses: {
    required: {
      alpha: alpha.use({ rpc: { call: ["Alpha.Echo"] } }),
      beta: beta.use({ rpc: { call: ["Beta.Echo"] } }),
    },
  },
}));

let server: NatsServerHandle;
const connections: NatsConnection[] = [];
const authority = new InMemorySessionAuthority();
const serviceSeed = generateSessionSeed();
const callerSeed = generateSessionSeed();

async function connectAs(seed: string): Promise<NatsConnection> {
  const nc = await connect({
    servers: server.url,
    inboxPrefix: `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`,
  });
  connections.push(nc);
  return nc;
}

function register(seed: string, type: "service" | "user", id: string): void {
  const key = sessionKeyFromSeed(seed);
  authority.register(key, {
    caller: { type, id, capabilities: type === "service" ? ["service"] : [] },
    inboxPrefix: `_INBOX.${key.slice(0, 16)}`,
  });
}

beforeAll(async () => {
  server = await startNatsServer();
  register(serviceSeed, "service", "echo");
  register(callerSeed, "user", "usr_1");
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await server?.stop();
});

async function openEcho<M extends typeof alpha | typeof beta>(
  nc: NatsConnection,
  contract: M,
  ownsConnection?: boolean,
): Promise<TrellisService<M>> {
  return TrellisService.open({
    nc,
    contract,
    name: "echo",
    sessionKeySeed: serviceSeed,
    authenticator: new ProofCallerAuthenticator({ authority }),
    heartbeat: false,
    logger: false,
    ...(ownsConnection !== undefined && { ownsConnection }),
  });
}

describe("TrellisService ownsConnection", () => {
  it("with ownsConnection: false, stop() ends its handlers and leaves the shared connection open", async () => {
    const shared = await connectAs(serviceSeed);
    const a = await openEcho(shared, alpha, false);
    a.handle.rpc.alpha.echo(async ({ input }) => Result.ok(input));
    const b = await openEcho(shared, beta, false);
    b.handle.rpc.beta.echo(async ({ input }) => Result.ok({ text: input.text.toUpperCase() }));
    await a.start();
    await b.start();
    const client = TrellisClient.open({
      nc: await connectAs(callerSeed),
      contract: caller,
      sessionKeySeed: callerSeed,
      logger: false,
    });

    const before = await client.rpc.alpha.echo({ text: "hi" });
    expect(before.isOk() && before.value).toEqual({ text: "hi" });

    await a.stop();
    expect(shared.isClosed()).toBe(false);
    const stopped = await client.rpc.alpha.echo({ text: "hi" }, { timeoutMs: 1000 });
    expect(stopped.isErr()).toBe(true);
    const other = await client.rpc.beta.echo({ text: "hi" });
    expect(other.isOk() && other.value).toEqual({ text: "HI" });
    await b.stop();
    expect(shared.isClosed()).toBe(false);
  });

  it("by default, stop() drains and closes the connection it was given", async () => {
    const own = await connectAs(serviceSeed);
    const service = await openEcho(own, alpha);
    await service.start();
    await service.stop();
    expect(own.isClosed()).toBe(true);
  });
});
