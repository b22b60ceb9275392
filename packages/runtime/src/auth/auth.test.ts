import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  estimateClockOffset,
  generateSessionSeed,
  natsConnectToken,
  natsConnectValue,
  oauthInitValue,
  rpcProofInput,
  ServerClock,
  sessionKeyFromSeed,
  sha256,
  signDomain,
  signRpcProof,
  verifyDomainSignature,
  verifyRpcProof,
} from "./index.js";

interface Vector {
  name: string;
  seed: string;
  sessionKey: string;
  oauthInit: { redirectTo: string; sig: string };
  flowBind: { flowId: string; sig: string };
  natsConnect: { contractDigest: string; iat: number; iatSig: string; runtimeToken: string };
  rpcProof: {
    subject: string;
    payload: string;
    iat: number;
    requestId: string;
    payloadHashBase64url: string;
    proofInputHex: string;
    proofDigestBase64url: string;
    proof: string;
  };
}

const vectors: Vector[] = JSON.parse(
  readFileSync(new URL("../../../../conformance/auth-proof/vectors.json", import.meta.url), "utf8"),
);

describe.each(vectors)("auth-proof vector $name", (v) => {
  it("derives the session key", () => expect(sessionKeyFromSeed(v.seed)).toBe(v.sessionKey));

  it("signs oauth-init (2-field form)", () => {
    const value = oauthInitValue({ redirectTo: v.oauthInit.redirectTo });
    expect(signDomain(v.seed, "oauth-init", value)).toBe(v.oauthInit.sig);
    expect(verifyDomainSignature(v.sessionKey, "oauth-init", value, v.oauthInit.sig)).toBe(true);
  });

  it("signs bind-flow", () => {
    expect(signDomain(v.seed, "bind-flow", v.flowBind.flowId)).toBe(v.flowBind.sig);
    expect(verifyDomainSignature(v.sessionKey, "bind-flow", v.flowBind.flowId, v.flowBind.sig)).toBe(true);
  });

  it("signs nats-connect and builds the runtime token", () => {
    const { contractDigest, iat } = v.natsConnect;
    expect(signDomain(v.seed, "nats-connect", natsConnectValue(iat, contractDigest))).toBe(
      v.natsConnect.iatSig,
    );
    expect(natsConnectToken({ seed: v.seed, iat, contractDigest })).toBe(v.natsConnect.runtimeToken);
  });

  it("builds the RPC proof input, digest and proof", () => {
    const p = v.rpcProof;
    expect(sha256(p.payload).toString("base64url")).toBe(p.payloadHashBase64url);
    const input = rpcProofInput({
      sessionKey: v.sessionKey,
      subject: p.subject,
      payload: p.payload,
      iat: p.iat,
      requestId: p.requestId,
    });
    expect(Buffer.from(input).toString("hex")).toBe(p.proofInputHex);
    expect(sha256(input).toString("base64url")).toBe(p.proofDigestBase64url);
    const proof = signRpcProof({
      seed: v.seed,
      subject: p.subject,
      payload: p.payload,
      iat: p.iat,
      requestId: p.requestId,
    });
    expect(proof).toBe(p.proof);
    const fields = {
      sessionKey: v.sessionKey,
      subject: p.subject,
      payload: p.payload,
      iat: p.iat,
      requestId: p.requestId,
    };
    expect(verifyRpcProof({ ...fields, proof })).toBe(true);
    expect(verifyRpcProof({ ...fields, payload: Buffer.from(p.payload), proof })).toBe(true);
  });

  it("rejects a tampered RPC proof", () => {
    const p = v.rpcProof;
    const fields = {
      sessionKey: v.sessionKey,
      subject: p.subject,
      payload: p.payload,
      iat: p.iat,
      requestId: p.requestId,
      proof: p.proof,
    };
    expect(verifyRpcProof({ ...fields, payload: `${p.payload} ` })).toBe(false);
    expect(verifyRpcProof({ ...fields, subject: `${p.subject}.x` })).toBe(false);
    expect(verifyRpcProof({ ...fields, iat: p.iat + 1 })).toBe(false);
    expect(verifyRpcProof({ ...fields, requestId: "other" })).toBe(false);
  });
});

describe("keys and signatures", () => {
  it("generates distinct 43-character seeds", () => {
    const a = generateSessionSeed();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateSessionSeed()).not.toBe(a);
    expect(sessionKeyFromSeed(a)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("refuses malformed seeds with a clear error", () => {
    expect(() => sessionKeyFromSeed("short")).toThrow("session key seed must decode to 32 bytes");
    expect(() => sessionKeyFromSeed("not base64url!")).toThrow("base64url");
  });

  it("treats malformed keys and signatures as invalid, never throwing", () => {
    expect(verifyDomainSignature("bad", "x", "y", "z")).toBe(false);
    expect(verifyDomainSignature(vectors[0]!.sessionKey, "x", "y", "A".repeat(86))).toBe(false);
  });
});

describe("clock offset", () => {
  it("estimates from the midpoint of the round trip", () => {
    expect(estimateClockOffset(1_000_100, 1_000_000_000, 1_000_000_200)).toBe(99_900);
    expect(estimateClockOffset("1970-01-01T00:16:40.100Z", 1_000_000, 1_000_200)).toBe(0);
  });

  it("corrects iat", () => {
    const clock = new ServerClock();
    const now = Date.now();
    clock.observe(Math.floor(now / 1000) + 120, now, now);
    expect(Math.abs(clock.iat() - (Math.floor(now / 1000) + 120))).toBeLessThanOrEqual(1);
  });

  it("refuses a serverNow that is not a time", () => {
    expect(() => estimateClockOffset("yesterday", 0, 0)).toThrow("serverNow 'yesterday' is not a time");
  });
});
