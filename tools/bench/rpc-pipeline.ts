/**
 * In-process timing of the steps a Trellis RPC adds to a raw NATS request, one at a time, so the costs
 * seen in `rpc.ts` can be attributed (and a change to one step re-measured). No NATS server needed.
 *
 * Run from the repository root:
 * `TSX_TSCONFIG_PATH=tools/bench/tsconfig.json node --import tsx tools/bench/rpc-pipeline.ts`
 * (BENCH_ITERATIONS, default 20000).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { fillSubjectTemplate } from "@trellis/contracts";
import {
  HEADERS,
  InMemorySessionAuthority,
  ProofCallerAuthenticator,
  RequestSigner,
  SchemaSet,
  ServerClock,
} from "@trellis/runtime";
import {
  generateSessionSeed,
  rpcProofInputFromHash,
  sessionKeyFromSeed,
  sha256,
  signDigest,
  verifyDigest,
} from "@trellis/runtime/auth";
import { monotonicFactory, ulid } from "ulid";
import { bench, METHOD, REQUEST_BODY } from "./contract.js";
import { ulid as pooledUlid } from "./what-if/pooled-ulid.js";

const N = Number(process.env.BENCH_ITERATIONS ?? 20_000);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs `fn` `N/10` times to warm up, then `N` times; returns µs per call. */
async function time(name: string, fn: (i: number) => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < N / 10; i++) await fn(i);
  const started = performance.now();
  for (let i = 0; i < N; i++) await fn(i);
  const us = ((performance.now() - started) * 1000) / N;
  console.log(`${us.toFixed(2).padStart(9)} µs  ${name}`);
  return us;
}

async function main(): Promise<void> {
  const seed = generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  const schemas = SchemaSet.of(bench.CONTRACT);
  const descriptor = bench.API.owned.rpc[METHOD];
  if (!descriptor) throw new Error(`no RPC '${METHOD}'`);
  const subject = fillSubjectTemplate(descriptor.subject, REQUEST_BODY);
  const payload = encoder.encode(JSON.stringify(REQUEST_BODY));
  const digest = sha256(
    rpcProofInputFromHash({ sessionKey, subject, iat: 1, requestId: ulid() }, sha256(payload)),
  );
  const signature = signDigest(seed, digest);
  const signer = new RequestSigner(seed, new ServerClock());

  console.log(`Trellis RPC pipeline, ${N} iterations per step (${process.version})`);
  console.log("caller side");
  await time("JSON.stringify + encode (raw does this too)", () =>
    encoder.encode(JSON.stringify(REQUEST_BODY)),
  );
  await time("ajv validate input", () => schemas.validate(descriptor.input.schema, REQUEST_BODY));
  await time("fillSubjectTemplate", () => fillSubjectTemplate(descriptor.subject, REQUEST_BODY));
  await time("ulid() (ulid 3, one getRandomValues per char)", () => ulid());
  await time("  alt: ULID from a pooled random buffer (what-if/pooled-ulid.ts)", () => pooledUlid());
  const monotonic = monotonicFactory();
  await time("  alt: ulid monotonicFactory()", () => monotonic());
  await time("  alt: crypto.randomUUID()", () => randomUUID());
  await time("  alt: randomBytes(16)", () => randomBytes(16));
  await time("sha256(payload) + proof input + sha256", () =>
    sha256(
      rpcProofInputFromHash(
        { sessionKey, subject, iat: 1, requestId: "01J0000000000000000000000" },
        sha256(payload),
      ),
    ),
  );
  await time("Ed25519 sign (signDigest)", () => signDigest(seed, digest));
  await time("nats headers(): 4 × set", () => {
    const h = natsHeaders();
    h.set(HEADERS.sessionKey, sessionKey);
    h.set(HEADERS.iat, "1");
    h.set(HEADERS.requestId, "01J0000000000000000000000");
    h.set(HEADERS.proof, signature);
    return h;
  });
  await time("RequestSigner.headers() total", () => signer.headers(subject, payload));

  console.log("service side");
  await time("decode + JSON.parse (raw does this too)", () => JSON.parse(decoder.decode(payload)));
  await time("Ed25519 verify (verifyDigest)", () => verifyDigest(sessionKey, digest, signature));
  await time("ajv validate output", () =>
    schemas.validate(descriptor.output.schema, { text: REQUEST_BODY.text, by: "usr_bench" }),
  );
  const authority = new InMemorySessionAuthority();
  authority.register(sessionKey, {
    caller: { type: "user", id: "usr_bench", capabilities: [] },
    inboxPrefix: `_INBOX.${sessionKey.slice(0, 16)}`,
  });
  const authenticator = new ProofCallerAuthenticator({ authority });
  const total = N + N / 10;
  const requests = Array.from({ length: total }, () => {
    const h = signer.headers(subject, payload);
    return {
      subject,
      payload,
      sessionKey: h.get(HEADERS.sessionKey),
      proof: h.get(HEADERS.proof),
      iat: h.get(HEADERS.iat),
      requestId: h.get(HEADERS.requestId),
      requiredCapabilities: [],
    };
  });
  let next = 0; // every request id is used once: the replay cache refuses repeats
  await time("ProofCallerAuthenticator.authenticate() total (warm cache)", async () => {
    const result = await authenticator.authenticate(requests[next++ % total]!);
    if (result.isErr()) throw result.error;
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
