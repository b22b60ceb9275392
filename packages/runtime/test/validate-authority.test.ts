import { Writable } from "node:stream";
import {
  connect,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import { generateSessionSeed, sessionKeyFromSeed, sha256, signRpcProof } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AuthError,
  type InboundRequest,
  ProofCallerAuthenticator,
  RpcClient,
  ServerClock,
  type SessionAuthority,
  type SessionLookup,
  ValidateSessionAuthority,
} from "../src/index.js";

const VALIDATE_SUBJECT = "rpc.v1.Auth.Requests.Validate";
const encoder = new TextEncoder();

let server: NatsServerHandle;
const connections: NatsConnection[] = [];
let serviceNc: NatsConnection;
let platformNc: NatsConnection;
const serviceSeed = generateSessionSeed();
const serviceKey = sessionKeyFromSeed(serviceSeed);

/** What the scripted control plane answers to one Validate call. */
type Answer = { ok: unknown } | { error: Record<string, unknown> } | "silent";

const userCaller = (capabilities: string[] = ["orders::read"]) => ({
  type: "user",
  participantKind: "app",
  userId: "usr_1",
  identity: { identityId: "idn_1", provider: "local", subject: "alice" },
  active: true,
  name: "Alice",
  email: "alice@example.com",
  capabilities,
  lastAuth: new Date().toISOString(),
});

const allow = (sessionKey: string): Answer => ({
  ok: { allowed: true, inboxPrefix: `_INBOX.${sessionKey.slice(0, 16)}`, caller: userCaller() },
});

const authError = (reason: string, message: string): Answer => ({
  error: { id: "01JTESTERROR0000000000000", type: "AuthError", message, reason },
});

/** A scripted `Auth.Requests.Validate` responder on the real server; records what it was asked. */
class ScriptedValidate {
  readonly calls: { input: Record<string, unknown>; sessionKey: string | undefined }[] = [];
  script: (input: Record<string, unknown>) => Answer = (input) => allow(String(input.sessionKey));
  private sub?: Subscription;

  async start(): Promise<void> {
    this.sub = platformNc.subscribe(VALIDATE_SUBJECT, {
      callback: (_error, msg) => {
        const input = JSON.parse(new TextDecoder().decode(msg.data));
        this.calls.push({ input, sessionKey: msg.headers?.get("session-key") });
        const answer = this.script(input);
        if (answer === "silent") return;
        if ("ok" in answer) {
          msg.respond(encoder.encode(JSON.stringify(answer.ok)));
          return;
        }
        const h = natsHeaders();
        h.set("status", "error");
        msg.respond(encoder.encode(JSON.stringify(answer.error)), { headers: h });
      },
    });
    await platformNc.flush();
  }

  async stop(): Promise<void> {
    this.sub?.unsubscribe();
    await platformNc.flush();
  }
}

/** A signed inbound request from the caller holding `seed`. */
function signed(
  seed: string,
  subject = "rpc.v1.Orders.Get",
  requiredCapabilities: string[] = [],
): InboundRequest {
  const payload = encoder.encode(JSON.stringify({ id: "o1" }));
  const iat = Math.floor(Date.now() / 1000);
  const requestId = `req-${Math.random().toString(36).slice(2)}`;
  return {
    subject,
    payload,
    sessionKey: sessionKeyFromSeed(seed),
    proof: signRpcProof({ seed, subject, payload, iat, requestId }),
    iat: String(iat),
    requestId,
    requiredCapabilities,
  };
}

function captureLogger() {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

async function startAuthority(options: { timeoutMs?: number } = {}) {
  const { logger, lines } = captureLogger();
  const authority = await ValidateSessionAuthority.start({
    nc: serviceNc,
    rpc: new RpcClient({ nc: serviceNc, seed: serviceSeed, clock: new ServerClock(), noResponderRetries: 0 }),
    logger,
    ...options,
  });
  return { authority, lines };
}

const cleanups: (() => unknown)[] = [];
let validate: ScriptedValidate;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  serviceNc = await connect({ servers: server.url, inboxPrefix: `_INBOX.${serviceKey.slice(0, 16)}` });
  platformNc = await connect({ servers: server.url });
  connections.push(serviceNc, platformNc);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

afterAll(async () => {
  for (const nc of connections) await nc.close();
  await server?.stop();
});

async function setup(options: { timeoutMs?: number; cacheTtlMs?: number; staleTtlMs?: number } = {}) {
  validate = new ScriptedValidate();
  await validate.start();
  const { authority, lines } = await startAuthority({
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
  });
  const authenticator = new ProofCallerAuthenticator({
    authority,
    ...(options.cacheTtlMs !== undefined && {
      cacheTtlMs: options.cacheTtlMs,
      staleRetryMs: options.cacheTtlMs,
    }),
    ...(options.staleTtlMs !== undefined && { staleTtlMs: options.staleTtlMs }),
  });
  cleanups.push(
    () => validate.stop(),
    () => authenticator.close(),
    () => authority.close(),
  );
  return { authority, authenticator, lines };
}

describe("ValidateSessionAuthority", () => {
  it("forwards the request's proof to Auth.Requests.Validate, signed as the service, and caches the caller", async () => {
    const { authenticator } = await setup();
    const seed = generateSessionSeed();
    const first = signed(seed, "rpc.v1.Orders.Get", ["orders::read"]);
    const result = await authenticator.authenticate(first);
    expect(result.isOk()).toBe(true);
    const value = result.unwrap();
    expect(value.caller).toMatchObject({ type: "user", id: "usr_1", capabilities: ["orders::read"] });
    expect(value.inboxPrefix).toBe(`_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`);
    expect(validate.calls).toHaveLength(1);
    expect(validate.calls[0]?.sessionKey).toBe(serviceKey);
    expect(validate.calls[0]?.input).toEqual({
      sessionKey: first.sessionKey,
      proof: first.proof,
      subject: first.subject,
      payloadHash: Buffer.from(sha256(first.payload)).toString("base64url"),
      iat: Number(first.iat),
      requestId: first.requestId,
      capabilities: ["orders::read"],
    });

    // Warm: the same subject needs no round trip; capabilities are checked against the cached caller.
    expect((await authenticator.authenticate(signed(seed, "rpc.v1.Orders.Get"))).isOk()).toBe(true);
    const missing = await authenticator.authenticate(signed(seed, "rpc.v1.Orders.Get", ["orders::admin"]));
    expect(missing.isErr() && missing.error.reason).toBe("insufficient_permissions");
    expect(validate.calls).toHaveLength(1);
  });

  it.each(["events.v1.Auth.Sessions.Revoked", "events.v1.Auth.Connections.Closed"])(
    "drops a cached session within a second of %s",
    async (subject) => {
      const { authenticator } = await setup();
      const seed = generateSessionSeed();
      const sessionKey = sessionKeyFromSeed(seed);
      expect((await authenticator.authenticate(signed(seed))).isOk()).toBe(true);
      validate.script = () => authError("session_not_found", "No such session");

      const published = Date.now();
      platformNc.publish(
        subject,
        JSON.stringify({
          header: { id: "01JTESTEVENT0000000000000", time: new Date().toISOString() },
          origin: "local",
          id: "usr_1",
          sessionKey,
          revokedBy: "usr_admin",
          userNkey: "UNKEY",
        }),
      );
      let reason: string | undefined;
      while (Date.now() - published < 1000) {
        const result = await authenticator.authenticate(signed(seed));
        if (result.isErr()) {
          reason = result.error.reason;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(reason).toBe("session_not_found");
      expect(Date.now() - published).toBeLessThan(1000);
      expect(validate.calls).toHaveLength(2);
    },
  );

  it("ignores invalidation events without a session key, with a warning", async () => {
    const { authenticator, lines } = await setup();
    const seed = generateSessionSeed();
    expect((await authenticator.authenticate(signed(seed))).isOk()).toBe(true);
    platformNc.publish("events.v1.Auth.Sessions.Revoked", "not json");
    const warning = "Ignoring a session invalidation event without a sessionKey";
    const deadline = Date.now() + 1000;
    while (!lines.some((line) => line.msg === warning) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(lines.map((line) => line.msg)).toContain(warning);
    expect((await authenticator.authenticate(signed(seed))).isOk()).toBe(true);
    expect(validate.calls).toHaveLength(1);
  });

  it("refuses allowed:false with insufficient_permissions and asks again next time", async () => {
    const { authenticator } = await setup();
    const seed = generateSessionSeed();
    validate.script = (input) => ({
      ok: {
        allowed: false,
        inboxPrefix: `_INBOX.${String(input.sessionKey).slice(0, 16)}`,
        caller: userCaller(),
      },
    });
    const refused = await authenticator.authenticate(signed(seed, "rpc.v1.Orders.Delete", ["orders::admin"]));
    expect(refused.isErr()).toBe(true);
    const error = refused.isErr() ? refused.error : undefined;
    expect(error?.reason).toBe("insufficient_permissions");
    expect(error?.message).toContain("rpc.v1.Orders.Delete");
    expect(error?.context).toMatchObject({
      requiredCapabilities: ["orders::admin"],
      userCapabilities: ["orders::read"],
    });

    validate.script = (input) => allow(String(input.sessionKey));
    expect((await authenticator.authenticate(signed(seed))).isOk()).toBe(true);
    expect(validate.calls).toHaveLength(2);
  });

  it("validates a cached session again on a subject it was not vouched for", async () => {
    const { authenticator } = await setup();
    const seed = generateSessionSeed();
    expect((await authenticator.authenticate(signed(seed, "rpc.v1.Orders.Get"))).isOk()).toBe(true);
    expect((await authenticator.authenticate(signed(seed, "rpc.v1.Orders.Get"))).isOk()).toBe(true);
    expect(validate.calls).toHaveLength(1);

    // The same (cached) session on a subject outside its approved list: the control plane decides.
    validate.script = (input) => ({
      ok: {
        allowed: input.subject !== "rpc.v1.Orders.Purge",
        inboxPrefix: `_INBOX.${String(input.sessionKey).slice(0, 16)}`,
        caller: userCaller(),
      },
    });
    const refused = await authenticator.authenticate(signed(seed, "rpc.v1.Orders.Purge"));
    expect(refused.isErr() && refused.error.reason).toBe("insufficient_permissions");
    expect(validate.calls.map((call) => call.input.subject)).toEqual([
      "rpc.v1.Orders.Get",
      "rpc.v1.Orders.Purge",
    ]);
    // The vouched-for subject is still served from the cache.
    expect((await authenticator.authenticate(signed(seed, "rpc.v1.Orders.Get"))).isOk()).toBe(true);
    expect(validate.calls).toHaveLength(2);
  });

  it("passes the control plane's refusal reason through without caching it", async () => {
    const { authenticator } = await setup();
    const seed = generateSessionSeed();
    validate.script = () => authError("user_inactive", "The user is inactive");
    const refused = await authenticator.authenticate(signed(seed));
    expect(refused.isErr() && refused.error).toBeInstanceOf(AuthError);
    expect(refused.isErr() && refused.error.reason).toBe("user_inactive");
    expect(refused.isErr() && refused.error.message).toBe("The user is inactive");
    const again = await authenticator.authenticate(signed(seed));
    expect(again.isErr() && again.error.reason).toBe("user_inactive");
    expect(validate.calls).toHaveLength(2);
  });

  it("keeps serving warm sessions while the control plane is unreachable; cold ones get auth_unavailable", async () => {
    const { authenticator, lines } = await setup({ cacheTtlMs: 20, staleTtlMs: 1500 });
    const warm = generateSessionSeed();
    const warmedAt = Date.now();
    expect((await authenticator.authenticate(signed(warm))).isOk()).toBe(true);
    await validate.stop();
    await new Promise((resolve) => setTimeout(resolve, 40));

    const stale = await authenticator.authenticate(signed(warm));
    expect(stale.isOk() && stale.value.caller.id).toBe("usr_1");
    const cold = await authenticator.authenticate(signed(generateSessionSeed()));
    expect(cold.isErr()).toBe(true);
    expect(cold.isErr() && cold.error.reason).toBe("auth_unavailable");
    expect(cold.isErr() && cold.error.message).toMatch(/control plane could not validate the session/);
    const warnings = lines.filter((line) => line.msg.startsWith("Auth.Requests.Validate failed"));
    expect(warnings).toHaveLength(1);

    // Past the stale bound the warm session is refused too.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, warmedAt + 1600 - Date.now())));
    const expired = await authenticator.authenticate(signed(warm));
    expect(expired.isErr() && expired.error.reason).toBe("auth_unavailable");

    // Back online: asked again, and the recovery is logged once.
    await validate.start();
    expect((await authenticator.authenticate(signed(warm))).isOk()).toBe(true);
    expect(lines.filter((line) => line.msg === "Auth.Requests.Validate answers again")).toHaveLength(1);
  });

  it("treats a Validate call that times out as the control plane being unavailable", async () => {
    const { authenticator } = await setup({ timeoutMs: 100 });
    validate.script = () => "silent";
    const started = Date.now();
    const cold = await authenticator.authenticate(signed(generateSessionSeed()));
    expect(cold.isErr() && cold.error.reason).toBe("auth_unavailable");
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("ProofCallerAuthenticator cache", () => {
  /** An authority whose answers the test releases by hand. */
  class ManualAuthority implements SessionAuthority {
    pending: ((lookup: SessionLookup) => void)[] = [];
    private listener?: (sessionKey: string) => void;
    lookup(): Promise<SessionLookup> {
      return new Promise((resolve) => this.pending.push(resolve));
    }
    onInvalidate(listener: (sessionKey: string) => void) {
      this.listener = listener;
      return () => {
        this.listener = undefined;
      };
    }
    revoke(sessionKey: string) {
      this.listener?.(sessionKey);
    }
  }

  it("does not cache an answer that raced with a revocation of the session", async () => {
    const authority = new ManualAuthority();
    const authenticator = new ProofCallerAuthenticator({ authority });
    const seed = generateSessionSeed();
    const record = { caller: { type: "user", id: "usr_1", capabilities: [] }, inboxPrefix: "_INBOX.x" };

    const inFlight = authenticator.authenticate(signed(seed));
    await new Promise((resolve) => setImmediate(resolve));
    authority.revoke(sessionKeyFromSeed(seed));
    authority.pending.shift()?.(record);
    expect((await inFlight).isOk()).toBe(true);

    const next = authenticator.authenticate(signed(seed));
    await new Promise((resolve) => setImmediate(resolve));
    expect(authority.pending).toHaveLength(1);
    authority.pending.shift()?.(undefined);
    expect((await next).isErr()).toBe(true);
  });

  it("keeps supporting authorities that ignore the request (InMemorySessionAuthority shape)", async () => {
    const seen: unknown[] = [];
    const authority: SessionAuthority = {
      async lookup(sessionKey, request) {
        seen.push(request?.requestId);
        return {
          caller: { type: "service", id: "svc", capabilities: [] },
          inboxPrefix: `_INBOX.${sessionKey}`,
        };
      },
    };
    const request = signed(generateSessionSeed());
    const result = await new ProofCallerAuthenticator({ authority }).authenticate(request);
    expect(result.isOk()).toBe(true);
    expect(seen).toEqual([request.requestId]);
  });
});
