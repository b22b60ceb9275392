/** Signs outbound requests (RPC, feeds, operation control) with the session key (auth spec §2.5). */
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import type { Context } from "@opentelemetry/api";
import type { ServerClock } from "../auth/clock.js";
import { sessionKeyFromSeed, sha256, signDigest } from "../auth/keys.js";
import { rpcProofInputFromHash } from "../auth/proofs.js";
import { HEADERS } from "../headers.js";
import { newUlid } from "../ids.js";
import { injectTraceContext } from "../telemetry/tracing.js";

/** Produces the signed headers of a request: session key, iat, a fresh request id, proof, trace context. */
export class RequestSigner {
  /** The signer's session key. */
  readonly sessionKey: string;

  constructor(
    private readonly seed: string,
    /** Server-corrected clock for `iat`. */
    readonly clock: ServerClock,
  ) {
    this.sessionKey = sessionKeyFromSeed(seed);
  }

  /** Signed headers for publishing `payload` to `subject`. */
  headers(subject: string, payload: Uint8Array, traceContext?: Context): MsgHdrs {
    const iat = this.clock.iat();
    const requestId = newUlid();
    const digest = sha256(
      rpcProofInputFromHash({ sessionKey: this.sessionKey, subject, iat, requestId }, sha256(payload)),
    );
    const h = natsHeaders();
    h.set(HEADERS.sessionKey, this.sessionKey);
    h.set(HEADERS.iat, String(iat));
    h.set(HEADERS.requestId, requestId);
    h.set(HEADERS.proof, signDigest(this.seed, digest));
    if (traceContext) injectTraceContext(h, traceContext);
    return h;
  }
}
