/**
 * `@trellis/runtime/auth`: session keys, domain signatures, the NATS runtime token and RPC proofs,
 * byte-exact with the Trellis 0.10 auth-proof vectors.
 *
 * @module
 */
export { estimateClockOffset, ServerClock } from "./clock.js";
export {
  generateSessionSeed,
  SessionKeyError,
  sessionKeyFromSeed,
  sha256,
  signDigest,
  verifyDigest,
} from "./keys.js";
export {
  natsConnectToken,
  natsConnectValue,
  oauthInitValue,
  type RpcProofFields,
  rpcProofInput,
  rpcProofInputFromHash,
  signDomain,
  signRpcProof,
  verifyDomainSignature,
  verifyRpcProof,
} from "./proofs.js";
