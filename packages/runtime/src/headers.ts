/** NATS header names used on the wire (runtime spec §1, §2). One source of truth. */
export const HEADERS = {
  /** The caller's session key. */
  sessionKey: "session-key",
  /** The RPC proof signature. */
  proof: "proof",
  /** Issued-at, unix seconds. */
  iat: "iat",
  /** The request's ULID. */
  requestId: "request-id",
  /** `error` on error replies and frames. */
  status: "status",
  /** `ready` on a feed's first frame. */
  feedStatus: "feed-status",
  /** W3C trace context. */
  traceparent: "traceparent",
  /** W3C trace state. */
  tracestate: "tracestate",
  /** JetStream de-duplication id. */
  msgId: "Nats-Msg-Id",
} as const;

/** Value of the `status` header on error replies. */
export const STATUS_ERROR = "error";
