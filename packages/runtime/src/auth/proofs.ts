/**
 * Byte-exact proofs (auth spec §2): domain signatures, the NATS runtime token and the per-request RPC
 * proof. These functions are a public API shared with the control plane.
 */
import { canonicalizeJson } from "@trellis/contracts";
import { sessionKeyFromSeed, sha256, signDigest, verifyDigest } from "./keys.js";

/** `Sign(seed, SHA-256(utf8(prefix + ":" + value)))`, base64url. */
export function signDomain(seed: string, prefix: string, value: string): string {
  return signDigest(seed, sha256(`${prefix}:${value}`));
}

/** Verifies a domain signature made by {@link signDomain}; malformed input is `false`. */
export function verifyDomainSignature(
  sessionKey: string,
  prefix: string,
  value: string,
  signature: string,
): boolean {
  return verifyDigest(sessionKey, sha256(`${prefix}:${value}`), signature);
}

/** The value signed for `oauth-init` (auth §2.1): the 4-field wire form, or the 2-field legacy form without a contract. */
export function oauthInitValue(input: {
  redirectTo: string;
  provider?: string;
  contract?: unknown;
  contractDigest?: string;
  context?: unknown;
}): string {
  const context = canonicalizeJson(input.context ?? null);
  if (input.contract === undefined && input.contractDigest === undefined)
    return `${input.redirectTo}:${context}`;
  const contract = canonicalizeJson(input.contract ?? input.contractDigest);
  return `${input.redirectTo}:${input.provider ?? ""}:${contract}:${context}`;
}

/** The value signed for `nats-connect` and service bootstrap: `<iat>:<contractDigest>`. */
export function natsConnectValue(iat: number, contractDigest: string): string {
  return `${iat}:${contractDigest}`;
}

/** The runtime token a participant presents as its NATS `auth_token` (canonical JSON, sorted keys). */
export function natsConnectToken(input: { seed: string; iat: number; contractDigest: string }): string {
  const sig = signDomain(input.seed, "nats-connect", natsConnectValue(input.iat, input.contractDigest));
  return canonicalizeJson({
    v: 1,
    sessionKey: sessionKeyFromSeed(input.seed),
    iat: input.iat,
    contractDigest: input.contractDigest,
    sig,
  });
}

/** Fields covered by an RPC proof. `payload` is the raw request body (bytes, or text encoded as UTF-8). */
export interface RpcProofFields {
  /** The caller's session key. */
  sessionKey: string;
  /** The concrete subject the request is published to. */
  subject: string;
  /** The raw request body. */
  payload: Uint8Array | string;
  /** Issued-at, unix seconds (server-corrected). */
  iat: number;
  /** Unique request id (ULID). */
  requestId: string;
}

function lengthPrefixed(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + 4 + part.length, 0);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const part of parts) {
    out.writeUInt32BE(part.length, offset);
    out.set(part, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

/** The proof input: `LP(sessionKey) ‖ LP(subject) ‖ LP(SHA-256(payload)) ‖ LP(String(iat)) ‖ LP(requestId)`. */
export function rpcProofInput(fields: RpcProofFields): Uint8Array {
  return rpcProofInputFromHash(fields, sha256(fields.payload));
}

/** {@link rpcProofInput} when the payload hash is already known. */
export function rpcProofInputFromHash(
  fields: Omit<RpcProofFields, "payload">,
  payloadHash: Uint8Array,
): Uint8Array {
  return lengthPrefixed([
    Buffer.from(fields.sessionKey, "utf8"),
    Buffer.from(fields.subject, "utf8"),
    payloadHash,
    Buffer.from(String(fields.iat), "utf8"),
    Buffer.from(fields.requestId, "utf8"),
  ]);
}

/** Signs an RPC request: `Ed25519(seed, SHA-256(proofInput))`, base64url. */
export function signRpcProof(input: Omit<RpcProofFields, "sessionKey"> & { seed: string }): string {
  const sessionKey = sessionKeyFromSeed(input.seed);
  return signDigest(input.seed, sha256(rpcProofInput({ ...input, sessionKey })));
}

/** Verifies an RPC proof; malformed input is `false`. */
export function verifyRpcProof(input: RpcProofFields & { proof: string }): boolean {
  return verifyDigest(input.sessionKey, sha256(rpcProofInput(input)), input.proof);
}
