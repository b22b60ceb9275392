import { randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decode as decodeJwt, encodeAuthorizationResponse, encodeUser } from "@nats-io/jwt";
import { createAccount, createCurve, createServer, createUser, fromSeed } from "@nats-io/nkeys";
import {
  connect,
  credsAuthenticator,
  jwtAuthenticator,
  type NatsConnection,
  tokenAuthenticator,
} from "@nats-io/transport-node";
import { trellisAuth } from "@trellis/builtin-contracts";
import { defineAgentContract } from "@trellis/contracts";
import {
  ReplayCache,
  resolveSessionPrincipal,
  resolveUserSession,
  validateRequest,
  verifyRuntimeToken,
} from "@trellis/control-plane";
import {
  type AuthRequiredInfo,
  RpcClient,
  SchemaSet,
  ServerClock,
  TrellisClient,
  waitForDetachedFlow,
} from "@trellis/runtime";
import {
  generateSessionSeed,
  natsConnectToken,
  sessionKeyFromSeed,
  sha256,
  signDigest,
  signRpcProof,
  verifyDigest,
} from "@trellis/runtime/auth";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { CachedNodeKeyPair } from "../../packages/control-plane/src/callout/node-signing-key.js";
import { percentile, printBenchHeader, procCpuUs, systemBusyUs } from "./machine.js";

function envInt(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer`);
  return parsed;
}

/** The callout's in-flight limit per client IP (`DEFAULT_CALLOUT_LIMITS.perClient`). */
const CALLOUT_PER_CLIENT_LIMIT = 8;
const WARMUP_MS = envInt("BENCH_WARMUP_MS", 1000);
const DURATION_MS = envInt("BENCH_DURATION_MS", 5000);
/** Connects are slow (tens of ms): a longer phase gives the p99 more samples. */
const CONNECT_DURATION_MS = envInt("BENCH_CONNECT_DURATION_MS", 8000);
const CONNECT_CONCURRENCY = envInt("BENCH_CONNECT_CONCURRENCY", CALLOUT_PER_CLIENT_LIMIT);
const VALIDATE_CONCURRENCY = envInt("BENCH_VALIDATE_CONCURRENCY", 16);
if (CONNECT_CONCURRENCY > CALLOUT_PER_CLIENT_LIMIT) {
  throw new Error(
    `BENCH_CONNECT_CONCURRENCY must be ≤ ${CALLOUT_PER_CLIENT_LIMIT}: the callout refuses more in flight from one IP (rate_limited)`,
  );
}
const TIMEOUT_MS = 5000;
/** Minimum time each step of the breakdown is repeated for. */
const STEP_MS = 300;
/** Cores of foreign load in a phase above which the run is flagged as noisy. */
const NOISE_CORES = 0.1;

const encoder = new TextEncoder();

/** The participant that signs in: it only needs some approved surface. */
const benchAgent = defineAgentContract({}, () => ({
  id: "bench-auth-agent@v1",
  displayName: "Auth benchmark agent",
  description: "Signs in once, then reconnects through the callout and has its requests validated.",
  uses: {
    required: {
      auth: trellisAuth.use({ rpc: { call: ["Auth.Sessions.Me"] } }),
    },
  },
}));

const VALIDATE = "Auth.Requests.Validate";
const VALIDATED_RPC = "Auth.Sessions.Me";
/** The body of the user request being validated. */
const VALIDATED_PAYLOAD = encoder.encode("{}");

interface ValidateOutput {
  allowed: boolean;
  inboxPrefix: string;
  caller: { type: string };
}

// ---------------------------------------------------------------------------------------------------
// Resources, released at the end, on failure and on SIGINT/SIGTERM.

let platform: PlatformHandle | undefined;
const connections = new Set<NatsConnection>();
let cleaning: Promise<void> | undefined;
let interrupted = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([...connections].map((nc) => nc.close()));
    await platform?.stop().catch((err: unknown) => console.error("stopping the platform failed:", err));
  })();
  return cleaning;
}

/** How long a signal waits for the orderly stop before stopping nats-server and exiting anyway. */
const FORCED_EXIT_MS = 5000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function forceStop(): Promise<void> {
  const handle = platform;
  if (!handle) return;
  await handle.nats.stop().catch(() => undefined);
  rmSync(handle.dir, { recursive: true, force: true });
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // `on`, not `once`: a Ctrl-C reaches this process twice (from the terminal and forwarded by auth.ts).
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the control plane and nats-server…`);
    const force = () => void forceStop().finally(() => process.exit(130));
    const forced = setTimeout(() => {
      console.error(`the control plane did not stop within ${FORCED_EXIT_MS} ms: stopping nats-server`);
      force();
    }, FORCED_EXIT_MS);
    // A Ctrl-C also reaches nats-server (same process group), and the control plane's drain then
    // waits for a server that is gone: skip the orderly stop when the server has already exited.
    const probe = setInterval(() => {
      if (platform && !processAlive(platform.nats.pid)) {
        clearTimeout(forced);
        clearInterval(probe);
        force();
      }
    }, 200);
    void cleanup().finally(() => {
      clearTimeout(forced);
      clearInterval(probe);
      process.exit(130);
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Facts about the machine and the nats-server.

// ---------------------------------------------------------------------------------------------------
// Measuring.

/** One operation; resolves to the latency to record, ms. */
type Op = () => Promise<number>;

interface PhaseResult {
  phase: string;
  concurrency: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of this process (clients + control plane) per operation. */
  processCpuUsPerOp: number;
  /** CPU of the nats-server process per operation, when /proc is readable. */
  natsCpuUsPerOp: number | null;
  /** Cores kept busy by other processes during the phase: a noise indicator; Linux only. */
  otherCores: number | null;
}

async function drive(op: Op, concurrency: number, ms: number, latencies: number[] | null): Promise<void> {
  const deadline = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < deadline && !interrupted) {
      const latency = await op();
      latencies?.push(latency);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function measure(
  phase: string,
  op: Op,
  concurrency: number,
  natsPid: number,
  durationMs: number,
): Promise<PhaseResult> {
  if (interrupted) throw new Error("interrupted");
  process.stdout.write(`  running ${phase} × ${concurrency}…`);
  await drive(op, concurrency, WARMUP_MS, null);
  const latencies: number[] = [];
  const natsBefore = procCpuUs(natsPid);
  const busyBefore = systemBusyUs();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await drive(op, concurrency, durationMs, latencies);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const natsAfter = procCpuUs(natsPid);
  const busyAfter = systemBusyUs();

  if (interrupted) throw new Error("interrupted");
  const ops = latencies.length;
  const sorted = Float64Array.from(latencies).sort();
  const processUs = cpu.user + cpu.system;
  const natsUs = natsBefore !== null && natsAfter !== null ? natsAfter - natsBefore : null;
  const otherUs =
    busyBefore !== null && busyAfter !== null && natsUs !== null
      ? busyAfter - busyBefore - processUs - natsUs
      : null;
  const result: PhaseResult = {
    phase,
    concurrency,
    ops,
    seconds,
    opsPerSec: ops / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    processCpuUsPerOp: processUs / ops,
    natsCpuUsPerOp: natsUs === null ? null : natsUs / ops,
    otherCores: otherUs === null ? null : Math.max(0, otherUs / (seconds * 1e6)),
  };
  process.stdout.write(` ${fmt(result.opsPerSec, 0)}/s\n`);
  return result;
}

/** What one step of the breakdown costs. */
interface StepCost {
  step: string;
  /** CPU of this process per call (the work itself, thread-pool work included), µs. */
  cpuUs: number;
  /** Wall time per call, µs: more than the CPU when the step waits (thread pool, other processes). */
  wallUs: number;
}

/** Costs per call of `fn`, repeated for at least {@link STEP_MS} and 50 calls, after a short warm-up. */
async function stepCost(step: string, fn: () => unknown): Promise<StepCost> {
  for (let i = 0; i < 20; i++) await fn();
  let calls = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < STEP_MS || calls < 50) {
    await fn();
    calls++;
    elapsed = performance.now() - started;
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { step, cpuUs: (cpu.user + cpu.system) / calls, wallUs: (elapsed * 1000) / calls };
}

// ---------------------------------------------------------------------------------------------------
// Signing in, as `platform.test.ts` does: the detached flow, scripted.

async function expectOk(response: Response, what: string): Promise<void> {
  if (!response.ok) throw new Error(`${what} answered ${response.status}: ${await response.text()}`);
}

async function approve(handle: PlatformHandle, info: AuthRequiredInfo): Promise<void> {
  const admin = handle.admin;
  if (!admin) throw new Error("the platform has no dev admin");
  const post = (path: string, body: unknown) =>
    fetch(`${handle.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  await expectOk(
    await post("/auth/login/local", { flowId: info.flowId, ...admin }),
    "POST /auth/login/local",
  );
  await expectOk(
    await post(`/auth/flow/${info.flowId}/approval`, { approved: true }),
    "POST /auth/flow/…/approval",
  );
  await waitForDetachedFlow(info, { pollIntervalMs: 100, timeoutMs: 10_000 });
}

// ---------------------------------------------------------------------------------------------------
// Reporting.

const fmt = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

function printTable(header: string[], rows: string[][], leftColumns: number): void {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => row[col]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, col) => (col < leftColumns ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join(" | ")} |`;
  console.log(line(header));
  console.log(
    `| ${widths.map((w, col) => `${"-".repeat(w - 1)}${col < leftColumns ? "-" : ":"}`).join(" | ")} |`,
  );
  for (const row of rows) console.log(line(row));
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const resolved = import.meta.resolve("@trellis/control-plane");
  if (!resolved.endsWith("/packages/control-plane/src/index.ts")) {
    throw new Error(
      `@trellis/control-plane resolves to ${resolved}, not to its sources: run through tools/bench/auth.ts (npm run bench:auth)`,
    );
  }
  const machine = printBenchHeader(
    "Trellis auth benchmark: callout connects and Auth.Requests.Validate",
    `warm-up ${WARMUP_MS} ms, then ${CONNECT_DURATION_MS} ms (connects) or ${DURATION_MS} ms (Validate) measured`,
  );

  const startedAt = performance.now();
  platform = await startPlatform();
  const handle = platform;
  const natsPid = handle.nats.pid;
  const store = handle.controlPlane.context.store;
  console.log(
    `  platform:    ${handle.natsUrl} (nats-server pid ${natsPid}), control plane ${handle.url} in pid ${process.pid}, started in ${fmt(performance.now() - startedAt, 0)} ms`,
  );

  // --- One sign-in: a bound user session.
  const signInStarted = performance.now();
  const client = await TrellisClient.connect({
    trellisUrl: handle.url,
    contract: benchAgent,
    logger: false,
    onAuthRequired: (info) => approve(handle, info),
  });
  const userSeed = client.sessionKeySeed;
  const userKey = sessionKeyFromSeed(userSeed);
  await client.nc.close();
  console.log(
    `  sign-in:     session ${userKey.slice(0, 12)}… bound in ${fmt(performance.now() - signInStarted, 0)} ms`,
  );
  console.log(
    `  connectors:  1, then ${CONNECT_CONCURRENCY} concurrent (the callout admits ≤ ${CALLOUT_PER_CLIENT_LIMIT} in flight per client IP; all connects come from 127.0.0.1)`,
  );

  // --- 1. Callout connects.
  const sentinel = handle.controlPlane.context.sentinel;
  const sentinelAuth = jwtAuthenticator(sentinel.jwt, encoder.encode(sentinel.seed));
  const inboxPrefix = `_INBOX.${userKey.slice(0, 16)}`;
  const contractDigest = benchAgent.CONTRACT_DIGEST;
  const lastDecision = () => handle.controlPlane.recentCalloutDecisions().at(-1)?.outcome ?? "none";
  const connectCycle: Op = async () => {
    const started = performance.now();
    const token = natsConnectToken({ seed: userSeed, iat: Math.floor(Date.now() / 1000), contractDigest });
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: handle.natsUrl,
        name: "bench-auth-connect",
        inboxPrefix,
        authenticator: [sentinelAuth, tokenAuthenticator(token)],
        maxReconnectAttempts: 0,
        reconnect: false,
        timeout: TIMEOUT_MS,
      });
    } catch (err) {
      if (interrupted) return 0;
      throw new Error(`a connect failed (last callout decision: ${lastDecision()}): ${String(err)}`);
    }
    const latency = performance.now() - started;
    connections.add(nc);
    await nc.close();
    connections.delete(nc);
    return latency;
  };

  const results: PhaseResult[] = [];
  for (const concurrency of [1, CONNECT_CONCURRENCY]) {
    results.push(
      await measure("callout connect+close", connectCycle, concurrency, natsPid, CONNECT_DURATION_MS),
    );
  }

  // --- 2. Auth.Requests.Validate, called as a service.
  const serviceSeed = generateSessionSeed();
  const serviceKey = sessionKeyFromSeed(serviceSeed);
  store.sessions.upsert({
    sessionKey: serviceKey,
    trellisId: "bench-auth-validator",
    type: "service",
    participantKind: "service",
    deploymentId: "bench-auth",
    instanceId: "bench-auth-1",
    instanceKey: serviceKey,
    session: { type: "service", name: "bench-auth" },
  });
  const serviceConn = await connect({
    servers: handle.natsUrl,
    name: "bench-auth-service",
    authenticator: credsAuthenticator(readFileSync(join(handle.dir, "trellis-auth.creds"))),
    inboxPrefix: `_INBOX.${serviceKey.slice(0, 16)}`,
  });
  connections.add(serviceConn);
  const rpc = new RpcClient({ nc: serviceConn, seed: serviceSeed, clock: new ServerClock() });
  const schemas = SchemaSet.of(trellisAuth.CONTRACT);
  const validateDescriptor = trellisAuth.API.owned.rpc[VALIDATE];
  const validatedDescriptor = trellisAuth.API.owned.rpc[VALIDATED_RPC];
  const subject = validatedDescriptor.subject;
  const capabilities = validatedDescriptor.callerCapabilities;
  const payloadHash = Buffer.from(sha256(VALIDATED_PAYLOAD)).toString("base64url");
  /** A freshly signed request of the user, as the service received it. */
  const userRequest = () => {
    const iat = Math.floor(Date.now() / 1000);
    const requestId = randomUUID();
    const proof = signRpcProof({ seed: userSeed, subject, payload: VALIDATED_PAYLOAD, iat, requestId });
    return { sessionKey: userKey, proof, subject, payloadHash, iat, requestId, capabilities };
  };
  const validateCall: Op = async () => {
    const input = userRequest();
    const started = performance.now();
    const result = await rpc.request<ValidateOutput>(VALIDATE, validateDescriptor, schemas, input, {
      timeoutMs: TIMEOUT_MS,
    });
    const latency = performance.now() - started;
    if (interrupted) return latency;
    if (result.isErr()) throw result.error;
    if (
      !result.value.allowed ||
      result.value.caller.type !== "user" ||
      result.value.inboxPrefix !== inboxPrefix
    )
      throw new Error(`unexpected Validate answer: ${JSON.stringify(result.value)}`);
    return latency;
  };
  for (const concurrency of [1, VALIDATE_CONCURRENCY]) {
    results.push(await measure(VALIDATE, validateCall, concurrency, natsPid, DURATION_MS));
  }

  // --- 3. Per-step costs, timed in this process with the libraries the callout and Validate use.
  process.stdout.write("  timing the steps…");
  await new Promise((resolve) => setTimeout(resolve, 500)); // let the last disconnects settle
  const steps: StepCost[] = [];
  const time = async (step: string, fn: () => unknown) => {
    steps.push(await stepCost(step, fn));
  };
  const sentinelSeedBytes = encoder.encode(sentinel.seed);
  const nonce = encoder.encode(randomUUID().replaceAll("-", ""));
  await time("client: runtime token, `natsConnectToken` (node:crypto Ed25519 sign)", () =>
    natsConnectToken({ seed: userSeed, iat: Math.floor(Date.now() / 1000), contractDigest }),
  );
  await time("client: sentinel nonce signature, nkeys `fromSeed` + `sign` (tweetnacl)", () => {
    const kp = fromSeed(sentinelSeedBytes);
    kp.getPublicKey();
    kp.sign(nonce);
  });
  // Stand-ins for the server's and the callout's keys: the same key types the topology uses. Public
  // keys are strings up front, as the callout has them (config, request): an nkeys seed pair derives
  // its public key with a scalar multiplication on every `getPublicKey()`.
  const serverXkeyPair = createCurve();
  const serverXkey = serverXkeyPair.getPublicKey();
  const calloutXkey = createCurve();
  const calloutXkeyPublic = calloutXkey.getPublicKey();
  const issuer = createAccount().getPublicKey();
  const issuerSigning = createAccount();
  const targetSigning = createAccount();
  const target = createAccount().getPublicKey();
  const userNkey = createUser().getPublicKey();
  const serverId = createServer().getPublicKey();
  const principal = resolveUserSession(store, userKey, contractDigest);
  if (!principal.ok) throw principal.error;
  const { publish, subscribe } = principal.value.principal;
  const userJwt = await encodeUser(
    principal.value.principal.name,
    userNkey,
    target,
    { pub: { allow: publish }, sub: { allow: subscribe }, resp: { max: 1, ttl: 0 } },
    { aud: "trellis", signer: targetSigning },
  );
  // The sealed authorization request carries the sentinel JWT and connect options: ~2 KB.
  const sealedRequest = serverXkeyPair.seal(new Uint8Array(2048), calloutXkeyPublic);
  const token = natsConnectToken({ seed: userSeed, iat: Math.floor(Date.now() / 1000), contractDigest });
  await time("callout: xkey open of a 2 KB request (tweetnacl X25519 + XSalsa20-Poly1305)", () =>
    calloutXkey.open(sealedRequest, serverXkey),
  );
  await time("callout: `decode` the request JWT (tweetnacl Ed25519 verify)", () => decodeJwt(sentinel.jwt));
  await time("callout: `verifyRuntimeToken` (zod + node:crypto Ed25519 verify)", () =>
    verifyRuntimeToken(token, Date.now() / 1000),
  );
  await time("callout: `resolveUserSession` (SQLite session + user + groups, zod)", () =>
    resolveUserSession(store, userKey, contractDigest),
  );
  await time("callout: user JWT, `encodeUser` (tweetnacl Ed25519 sign)", () =>
    encodeUser(
      principal.value.principal.name,
      userNkey,
      target,
      { pub: { allow: publish }, sub: { allow: subscribe }, resp: { max: 1, ttl: 0 } },
      { aud: "trellis", signer: targetSigning },
    ),
  );
  await time("callout: `encodeAuthorizationResponse` (tweetnacl Ed25519 sign)", () =>
    encodeAuthorizationResponse(userNkey, serverId, issuer, { jwt: userJwt }, { signer: issuerSigning }),
  );
  const response = encoder.encode(
    await encodeAuthorizationResponse(
      userNkey,
      serverId,
      issuer,
      { jwt: userJwt },
      { signer: issuerSigning },
    ),
  );
  await time(`callout: xkey seal of the ${response.length} B response (tweetnacl)`, () =>
    calloutXkey.seal(response, serverXkey),
  );
  const calloutSteps = steps.length;
  // The same encoders with the signing keys the callout really uses (node:crypto, derived once).
  const fastTargetSigning = new CachedNodeKeyPair(targetSigning);
  const fastIssuerSigning = new CachedNodeKeyPair(issuerSigning);
  const fastJwt = await encodeUser(
    principal.value.principal.name,
    userNkey,
    target,
    { pub: { allow: publish }, sub: { allow: subscribe }, resp: { max: 1, ttl: 0 } },
    { aud: "trellis", signer: fastTargetSigning },
  );
  decodeJwt(fastJwt); // throws unless the signature verifies
  await time("callout as shipped: `encodeUser` signed by the node:crypto signing key", () =>
    encodeUser(
      principal.value.principal.name,
      userNkey,
      target,
      { pub: { allow: publish }, sub: { allow: subscribe }, resp: { max: 1, ttl: 0 } },
      { aud: "trellis", signer: fastTargetSigning },
    ),
  );
  await time("callout as shipped: `encodeAuthorizationResponse` signed the same way", () =>
    encodeAuthorizationResponse(userNkey, serverId, issuer, { jwt: userJwt }, { signer: fastIssuerSigning }),
  );
  await time("Validate caller: user proof, `signRpcProof` (node:crypto Ed25519 sign)", () => userRequest());
  const digest = sha256("bench");
  const signature = signDigest(userSeed, digest);
  await time("Validate: one Ed25519 verify, `verifyDigest` (×2: service proof, user proof)", () => {
    if (!verifyDigest(userKey, digest, signature)) throw new Error("the signature does not verify");
  });
  await time("Validate: `resolveSessionPrincipal` (SQLite ×2 sessions, ×2 users, groups; zod)", () =>
    resolveSessionPrincipal(store, userKey, new Date()),
  );
  // Requests signed beforehand, so the signing is not counted in the validation.
  const signed = Array.from({ length: 4000 }, userRequest);
  const replay = new ReplayCache();
  const deps = {
    resolve: (key: string, now: Date) => resolveSessionPrincipal(store, key, now),
    now: () => new Date(),
    replay,
  };
  await time("Validate: `validateRequest` total (verify + replay + resolve)", () => {
    const result = validateRequest(deps, signed.pop() ?? userRequest());
    if (!result.ok) throw result.error;
  });
  process.stdout.write(" done\n");

  // --- Report.
  console.log("");
  printTable(
    [
      "phase",
      "concurrency",
      "ops",
      "ops/s",
      "p50 ms",
      "p99 ms",
      "bench process CPU µs/op",
      "nats-server CPU µs/op",
      "other procs (cores)",
    ],
    results.map((r) => [
      r.phase,
      String(r.concurrency),
      String(r.ops),
      fmt(r.opsPerSec, 0),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      fmt(r.processCpuUsPerOp, 0),
      r.natsCpuUsPerOp === null ? "n/a" : fmt(r.natsCpuUsPerOp, 0),
      r.otherCores === null ? "n/a" : fmt(r.otherCores, 2),
    ]),
    2,
  );
  console.log(
    "\n(connect latency: token + TCP + INFO/CONNECT/PING through the callout to PONG; ops/s counts connect+close cycles;",
  );
  console.log(" Validate latency: the RPC round trip, the user proof is signed before the clock starts)");
  console.log("");
  printTable(
    ["step", "CPU µs/op", "wall µs/op"],
    steps.map((s) => [s.step, fmt(s.cpuUs, 1), fmt(s.wallUs, 1)]),
    1,
  );
  const sum = (from: number, to: number, prefix: string) =>
    steps
      .slice(from, to)
      .filter((s) => s.step.startsWith(prefix))
      .reduce((total, s) => total + s.cpuUs, 0);
  console.log(
    `\nper connect: callout steps ${fmt(sum(0, calloutSteps, "callout:") / 1000, 1)} ms, client steps ${fmt(sum(0, calloutSteps, "client:") / 1000, 1)} ms of CPU` +
      " (the KV put, the event publish, nats.js and nats-server come on top)",
  );

  const noisy = results.filter((r) => r.otherCores !== null && r.otherCores > NOISE_CORES);
  if (noisy.length > 0) {
    const phases = noisy.map((r) => `${r.phase} × ${r.concurrency} (${fmt(r.otherCores ?? 0, 2)} cores)`);
    console.log(
      `\nWARNING: other processes were busy during ${phases.join(", ")}: the figures are skewed; re-run on an idle machine.`,
    );
  }

  const jsonPath = process.env.BENCH_JSON;
  if (jsonPath) {
    writeFileSync(
      jsonPath,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          cpus: machine.cpus,
          cpuModel: machine.cpuModel,
          node: process.version,
          natsServer: machine.natsServer,
          warmupMs: WARMUP_MS,
          durationMs: DURATION_MS,
          results,
          steps,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nResults written to ${jsonPath}`);
  }
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  if (!interrupted)
    console.error("\nbenchmark failed:", err instanceof Error ? (err.stack ?? err.message) : err);
} finally {
  await cleanup();
}
if (failed) process.exitCode = 1;
