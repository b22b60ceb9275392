import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { defineError, defineServiceContract } from "@trellis/contracts";
import { Result, UnexpectedError } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed, sha256, signDigest } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { rpcProofInputFromHash } from "../src/auth/proofs.js";
import {
  AuthError,
  InMemorySessionAuthority,
  ProofCallerAuthenticator,
  RemoteError,
  RpcClient,
  RpcServer,
  resolveLogger,
  SchemaSet,
  ServerClock,
  TransportError,
  ValidationError,
} from "../src/index.js";

const NotFoundError = defineError({
  type: "NotFoundError",
  fields: { key: z.string() },
  message: (d) => `no ${d.key}`,
});

const echo = defineServiceContract(
  {
    schemas: {
      Say: z.object({ text: z.string().min(1) }),
      Said: z.object({ text: z.string(), by: z.string() }),
      Key: z.object({ key: z.string() }),
    },
    errors: { NotFoundError },
  },
  (ref) => ({
    id: "echo@v1",
    displayName: "Echo",
    description: "Echoes.",
    capabilities: { secret: { displayName: "Secret", description: "Read secrets." } },
    rpc: {
      "Echo.Say": { version: "v1", input: ref.schema("Say"), output: ref.schema("Said") },
      "Echo.Find": {
        version: "v1",
        input: ref.schema("Key"),
        output: ref.schema("Said"),
        errors: [ref.error("NotFoundError")],
      },
      "Echo.Undeclared": { version: "v1", input: ref.schema("Key"), output: ref.schema("Said") },
      "Echo.Throw": { version: "v1", input: ref.schema("Key"), output: ref.schema("Said") },
      "Echo.Bad": { version: "v1", input: ref.schema("Key"), output: ref.schema("Said") },
      "Echo.Secret": {
        version: "v1",
        input: ref.schema("Key"),
        output: ref.schema("Said"),
        capabilities: { call: ["secret"] },
      },
      "Echo.Nobody": { version: "v1", input: ref.schema("Key"), output: ref.schema("Said") },
    },
  }),
);

const logger = resolveLogger(false);
const schemas = SchemaSet.of(echo.CONTRACT);
const rpc = echo.API.owned.rpc;

let server: NatsServerHandle;
let serviceConn: NatsConnection;
let replicaConn: NatsConnection;
const authority = new InMemorySessionAuthority();
const callerSeed = generateSessionSeed();
const callerKey = sessionKeyFromSeed(callerSeed);
let callerConn: NatsConnection;
let client: RpcClient;
const calls = { a: 0, b: 0 };
let replica: RpcServer;

function startReplica(nc: NatsConnection, name: "a" | "b"): RpcServer {
  const rpcServer = new RpcServer({
    nc,
    contract: echo,
    schemas,
    authenticator: new ProofCallerAuthenticator({ authority }),
    serviceName: "echo",
    logger,
  });
  rpcServer.mount(
    "Echo.Say",
    async ({ input, context }) => {
      calls[name]++;
      return Result.ok({ text: (input as { text: string }).text, by: `${context.caller.id}@${name}` });
    },
    {},
  );
  return rpcServer;
}

beforeAll(async () => {
  server = await startNatsServer();
  serviceConn = await connect({ servers: server.url });
  replicaConn = await connect({ servers: server.url });
  callerConn = await connect({ servers: server.url, inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}` });
  authority.register(callerKey, {
    caller: { type: "user", id: "usr_1", capabilities: [] },
    inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}`,
  });
  const primary = startReplica(serviceConn, "a");
  replica = startReplica(replicaConn, "b");
  primary.mount(
    "Echo.Find",
    async ({ input }) => Result.err(new NotFoundError({ key: (input as { key: string }).key })),
    {},
  );
  primary.mount(
    "Echo.Undeclared",
    async ({ input }) => Result.err(new NotFoundError({ key: (input as { key: string }).key })),
    {},
  );
  primary.mount(
    "Echo.Throw",
    () => {
      throw new Error("boom");
    },
    {},
  );
  primary.mount("Echo.Bad", async () => Result.ok({ text: 42 }), {});
  primary.mount(
    "Echo.Secret",
    async ({ input }) => Result.ok({ text: (input as { key: string }).key, by: "vault" }),
    {},
  );
  client = new RpcClient({ nc: callerConn, seed: callerSeed, clock: new ServerClock() });
  await serviceConn.flush();
  await replicaConn.flush();
});

afterAll(async () => {
  await Promise.all([serviceConn, replicaConn, callerConn].map((nc) => nc?.close()));
  await server?.stop();
});

describe("RPC round trip", () => {
  it("validates both ways and returns the output", async () => {
    const result = await client.request("Echo.Say", rpc["Echo.Say"]!, schemas, { text: "hi" });
    expect(result.isOk() && result.value).toMatchObject({ text: "hi", by: expect.stringMatching(/^usr_1@/) });
  });

  it("refuses invalid input locally, before sending", async () => {
    const result = await client.request("Echo.Say", rpc["Echo.Say"]!, schemas, { text: "" });
    expect(result.isErr() && result.error).toBeInstanceOf(ValidationError);
  });

  it("rebuilds a declared error as its class", async () => {
    const result = await client.request("Echo.Find", rpc["Echo.Find"]!, schemas, { key: "k1" });
    expect(result.isErr()).toBe(true);
    const error = result.isErr() ? result.error : undefined;
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as InstanceType<typeof NotFoundError>).data).toEqual({ key: "k1" });
  });

  it("wraps an undeclared error as RemoteError", async () => {
    const result = await client.request("Echo.Undeclared", rpc["Echo.Undeclared"]!, schemas, { key: "k1" });
    const error = result.isErr() ? result.error : undefined;
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).remoteError).toMatchObject({
      type: "NotFoundError",
      key: "k1",
      context: { method: "Echo.Undeclared", contractId: "echo@v1" },
    });
  });

  it("turns a throw into UnexpectedError", async () => {
    const declared = { ...rpc["Echo.Throw"]!, declaredErrorTypes: ["UnexpectedError"] };
    const result = await client.request("Echo.Throw", declared, schemas, { key: "k" });
    const error = result.isErr() ? result.error : undefined;
    expect(error).toBeInstanceOf(UnexpectedError);
    expect(error?.message).toBe("An unexpected error has occurred");
  });

  it("refuses an output that breaks its schema on the server", async () => {
    const declared = { ...rpc["Echo.Bad"]!, declaredErrorTypes: ["ValidationError"] };
    const result = await client.request("Echo.Bad", declared, schemas, { key: "k" });
    expect(result.isErr() && result.error).toBeInstanceOf(ValidationError);
  });

  it("returns TransportError when nobody answers, after the retries", async () => {
    const started = Date.now();
    const result = await client.request("Echo.Nobody", rpc["Echo.Nobody"]!, schemas, { key: "k" });
    const error = result.isErr() ? result.error : undefined;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe("trellis.request.unavailable");
    expect((error as TransportError).context).toMatchObject({ attempts: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });
});

describe("RPC refusals", () => {
  const subject = "rpc.v1.Echo.Say";
  const body = new TextEncoder().encode(JSON.stringify({ text: "hi" }));

  async function raw(
    build: (h: ReturnType<typeof natsHeaders>) => void,
    options: { payload?: Uint8Array; subject?: string; nc?: NatsConnection } = {},
  ): Promise<Record<string, unknown>> {
    const h = natsHeaders();
    build(h);
    const msg = await (options.nc ?? callerConn).request(
      options.subject ?? subject,
      options.payload ?? body,
      { headers: h, timeout: 2000 },
    );
    expect(msg.headers?.get("status")).toBe("error");
    return JSON.parse(new TextDecoder().decode(msg.data));
  }

  function sign(fields: {
    subject?: string;
    payload?: Uint8Array;
    iat?: number;
    requestId?: string;
    seed?: string;
  }) {
    const seed = fields.seed ?? callerSeed;
    const sessionKey = sessionKeyFromSeed(seed);
    const iat = fields.iat ?? Math.floor(Date.now() / 1000);
    const requestId = fields.requestId ?? `req-${Math.random()}`;
    const digest = sha256(
      rpcProofInputFromHash(
        { sessionKey, subject: fields.subject ?? subject, iat, requestId },
        sha256(fields.payload ?? body),
      ),
    );
    return { sessionKey, iat, requestId, proof: signDigest(seed, digest) };
  }

  function signed(p: ReturnType<typeof sign>, overrides: Partial<Record<string, string>> = {}) {
    return (h: ReturnType<typeof natsHeaders>) => {
      const values: Record<string, string> = {
        "session-key": p.sessionKey,
        iat: String(p.iat),
        "request-id": p.requestId,
        proof: p.proof,
        ...overrides,
      };
      for (const [k, v] of Object.entries(values)) if (v !== "") h.set(k, v);
    };
  }

  const reasons: [string, () => Promise<Record<string, unknown>>, string][] = [
    ["missing session key", () => raw(signed(sign({}), { "session-key": "" })), "missing_session_key"],
    ["missing proof", () => raw(signed(sign({}), { proof: "" })), "missing_proof"],
    ["bad proof", () => raw(signed(sign({}), { proof: "A".repeat(86) })), "invalid_signature"],
    [
      "proof over a different body",
      () => raw(signed(sign({ payload: new TextEncoder().encode('{"text":"ho"}') }))),
      "invalid_signature",
    ],
    [
      "proof over a different subject",
      () => raw(signed(sign({ subject: "rpc.v1.Echo.Find" }))),
      "invalid_signature",
    ],
    [
      "proof over a different iat",
      () => {
        const p = sign({});
        return raw(signed(p, { iat: String(p.iat - 1) }));
      },
      "invalid_signature",
    ],
    [
      "proof over a different request id",
      () => raw(signed(sign({ requestId: "a" }), { "request-id": "b" })),
      "invalid_signature",
    ],
    [
      "iat in the past",
      () => raw(signed(sign({ iat: Math.floor(Date.now() / 1000) - 31 }))),
      "iat_out_of_range",
    ],
    [
      "iat in the future",
      () => raw(signed(sign({ iat: Math.floor(Date.now() / 1000) + 31 }))),
      "iat_out_of_range",
    ],
    ["unknown session", () => raw(signed(sign({ seed: generateSessionSeed() }))), "session_not_found"],
    [
      "missing capability",
      () => {
        const payload = new TextEncoder().encode('{"key":"k"}');
        return raw(signed(sign({ subject: "rpc.v1.Echo.Secret", payload })), {
          subject: "rpc.v1.Echo.Secret",
          payload,
        });
      },
      "insufficient_permissions",
    ],
  ];
  for (const [name, send, reason] of reasons) {
    it(`refuses ${name} with ${reason}`, async () => {
      const error = await send();
      expect(error).toMatchObject({ type: "AuthError", reason, context: { method: expect.any(String) } });
    });
  }

  it("refuses a replayed request id", async () => {
    // Echo.Find has one replica: the replay cache is per process (see design/decisions.md).
    const findSubject = "rpc.v1.Echo.Find";
    const payload = new TextEncoder().encode('{"key":"k"}');
    const p = sign({ subject: findSubject, payload, requestId: "replayed-1" });
    const first = await raw(signed(p), { subject: findSubject, payload });
    expect(first).toMatchObject({ type: "NotFoundError" });
    expect(await raw(signed(p), { subject: findSubject, payload })).toMatchObject({
      type: "AuthError",
      reason: "invalid_signature",
    });
  });

  it("refuses a reply subject outside the caller's inbox prefix", async () => {
    const other = await connect({ servers: server.url });
    try {
      expect(await raw(signed(sign({})), { nc: other })).toMatchObject({ reason: "reply_subject_mismatch" });
    } finally {
      await other.close();
    }
  });

  it("lets a caller with the capability through", async () => {
    const seed = generateSessionSeed();
    const key = sessionKeyFromSeed(seed);
    authority.register(key, {
      caller: { type: "user", id: "usr_2", capabilities: ["echo::secret"] },
      inboxPrefix: `_INBOX.${key.slice(0, 16)}`,
    });
    const nc = await connect({ servers: server.url, inboxPrefix: `_INBOX.${key.slice(0, 16)}` });
    try {
      const c = new RpcClient({ nc, seed, clock: new ServerClock() });
      const result = await c.request("Echo.Secret", rpc["Echo.Secret"]!, schemas, { key: "k9" });
      expect(result.isOk() && result.value).toEqual({ text: "k9", by: "vault" });
      authority.revoke(key);
      const after = await c.request(
        "Echo.Secret",
        { ...rpc["Echo.Secret"]!, declaredErrorTypes: ["AuthError"] },
        schemas,
        { key: "k9" },
      );
      expect(after.isErr() && after.error).toBeInstanceOf(AuthError);
      expect(after.isErr() && (after.error as AuthError).reason).toBe("session_not_found");
    } finally {
      await nc.close();
    }
  });
});

describe("replicas", () => {
  it("share load through the queue group, and one keeps serving when the other stops", async () => {
    calls.a = 0;
    calls.b = 0;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        client.request("Echo.Say", rpc["Echo.Say"]!, schemas, { text: `m${i}` }),
      ),
    );
    expect(calls.a).toBeGreaterThan(0);
    expect(calls.b).toBeGreaterThan(0);
    expect(calls.a + calls.b).toBe(40);
    await replica.stop();
    calls.a = 0;
    calls.b = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => client.request("Echo.Say", rpc["Echo.Say"]!, schemas, { text: "x" })),
    );
    expect(results.every((r) => r.isOk())).toBe(true);
    expect(calls).toEqual({ a: 10, b: 0 });
  });
});
