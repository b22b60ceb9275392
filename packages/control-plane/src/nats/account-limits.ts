/**
 * Account JWT `limits` blocks. nats-server reads a missing limit in an account JWT as 0 (for
 * connections, subscriptions, payload: "none allowed"), so every block written here sets each
 * limit explicitly; -1 means unlimited.
 */
import type { OperatorLimits } from "@nats-io/jwt";

const UNLIMITED = -1;

/** Core NATS and account limits, all unlimited (wildcard exports allowed, bearer tokens not forbidden). */
function unlimitedCoreLimits(): OperatorLimits {
  return {
    subs: UNLIMITED,
    data: UNLIMITED,
    payload: UNLIMITED,
    imports: UNLIMITED,
    exports: UNLIMITED,
    wildcards: true,
    conn: UNLIMITED,
    leaf: UNLIMITED,
    disallow_bearer: false,
  };
}

/** Every limit unlimited, JetStream enabled with unlimited memory/disk storage, streams, consumers and ack pending. */
export function unlimitedAccountLimits(): OperatorLimits {
  return {
    ...unlimitedCoreLimits(),
    mem_storage: UNLIMITED,
    disk_storage: UNLIMITED,
    streams: UNLIMITED,
    consumer: UNLIMITED,
    mem_max_stream_bytes: UNLIMITED,
    disk_max_stream_bytes: UNLIMITED,
    max_bytes_required: false,
    max_ack_pending: UNLIMITED,
  };
}

/** Core limits unlimited, JetStream disabled (zero storage), as the system account needs. */
export function jetStreamDisabledLimits(): OperatorLimits {
  return {
    ...unlimitedCoreLimits(),
    mem_storage: 0,
    disk_storage: 0,
    streams: 0,
    consumer: 0,
    mem_max_stream_bytes: 0,
    disk_max_stream_bytes: 0,
    max_bytes_required: false,
    max_ack_pending: 0,
  };
}
