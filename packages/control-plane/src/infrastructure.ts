/**
 * Infrastructure the control plane ensures at startup (idempotently): the AUTH-account KV buckets with
 * their TTLs (and `trellis_state`, without one) and the `trellis` event stream, with JetStream replicas
 * probed from the meta group (3 when three peers are current, else 1) unless configured.
 */
import { jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { EVENTS_STREAM, EVENTS_STREAM_SUBJECTS } from "@trellis/contracts";
import { STATE_BUCKET } from "@trellis/runtime";
import type { ControlPlaneConfig } from "./config.js";
import { AUTH_BUCKETS } from "./context.js";

/**
 * How many JetStream replicas to use: the configured number, else 3 when the JetStream meta group
 * reports three current peers, else 1. `sys` must be a system-account connection.
 */
export async function probeReplicas(sys: NatsConnection, configured?: 1 | 3): Promise<1 | 3> {
  if (configured) return configured;
  try {
    const reply = await sys.request("$SYS.REQ.SERVER.PING.JSZ", undefined, { timeout: 1000 });
    const body = JSON.parse(new TextDecoder().decode(reply.data)) as {
      data?: { meta_cluster?: { cluster_size?: number; replicas?: { current?: boolean }[] } };
    };
    const others = (body.data?.meta_cluster?.replicas ?? []).filter((peer) => peer.current).length;
    return others + 1 >= 3 ? 3 : 1;
  } catch {
    return 1;
  }
}

/** The AUTH-account buckets, created or updated. */
export async function ensureAuthBuckets(
  nc: NatsConnection,
  config: ControlPlaneConfig,
  replicas: 1 | 3,
): Promise<{ pendingAuth: KV; browserFlows: KV; oauthStates: KV; connections: KV }> {
  const kvm = new Kvm(nc);
  const bucket = (name: string, ttl: number) => kvm.create(name, { history: 1, ttl, replicas });
  const flowTtl = Math.max(config.ttlMs.oauth, config.ttlMs.pendingAuth);
  // App and device state (runtime spec §5.5), bound by the state server: no TTL, entries expire by
  // their own `expiresAt`.
  await bucket(STATE_BUCKET, 0);
  return {
    pendingAuth: await bucket(AUTH_BUCKETS.pendingAuth, config.ttlMs.pendingAuth),
    browserFlows: await bucket(AUTH_BUCKETS.browserFlows, flowTtl),
    oauthStates: await bucket(AUTH_BUCKETS.oauthStates, config.ttlMs.oauth),
    connections: await bucket(AUTH_BUCKETS.connections, config.ttlMs.connections),
  };
}

/** The `trellis` event stream on the TRELLIS account, created or left as is. */
export async function ensureEventStream(nc: NatsConnection, replicas: 1 | 3): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config: Partial<StreamConfig> & { name: string } = {
    name: EVENTS_STREAM,
    subjects: [EVENTS_STREAM_SUBJECTS],
    num_replicas: replicas,
    duplicate_window: 2 * 60 * 1_000_000_000,
  };
  try {
    await jsm.streams.info(EVENTS_STREAM);
  } catch {
    await jsm.streams.add(config);
  }
}
