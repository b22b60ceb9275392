/**
 * What the control plane's domain modules (login flows, HTTP routes, RPCs) are given: configuration,
 * store, KV buckets, connection control and event publishing. Built once by `startControlPlane`;
 * tests build it over a real SQLite file and a real nats-server.
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "@trellis/runtime";
import type { ContractCatalog } from "./authority/catalog.js";
import type { DeploymentAuthorityService } from "./authority/planning.js";
import type { LiveConnection, SessionKicker } from "./callout/connections.js";
import type { ControlPlaneConfig } from "./config.js";
import type { ControlPlaneStore } from "./store/store.js";

/** Names of the AUTH-account KV buckets (history 1, TTLs from `ttlMs`). */
export const AUTH_BUCKETS = {
  /** Pending authentications (key = base64url(SHA-256(authToken))); TTL `pendingAuth`. */
  pendingAuth: "trellis_pending_auth",
  /** Browser login flows (key = flowId); TTL `oauth`. */
  browserFlows: "trellis_browser_flows",
  /** OAuth states (key = base64url(SHA-256(state))); TTL `oauth`. */
  oauthStates: "trellis_oauth_states",
  /** Live connections; TTL `connections`. */
  connections: "trellis_connections",
} as const;

/** Live connection control. */
export interface ConnectionControl extends SessionKicker {
  /** Live connections, optionally of one session. */
  list(sessionKey?: string): Promise<LiveConnection[]>;
  /** Kicks one connection by user nkey; `false` when not live. */
  kick(userNkey: string): Promise<boolean>;
}

/** Who did something, for events. */
export type Actor = { kind: "user"; userId: string } | { kind: "system" };

/** Publishes the `trellis.auth@v1` events this step owns. Failures are logged, never thrown. */
export interface AuthEvents {
  /** `Auth.Sessions.Revoked`. */
  sessionRevoked(input: { origin: string; id: string; sessionKey: string; revokedBy: string }): Promise<void>;
  /** `Auth.Connections.Opened`. */
  connectionOpened(input: {
    origin: string;
    id: string;
    sessionKey: string;
    userNkey: string;
  }): Promise<void>;
  /** `Auth.Connections.Closed`. */
  connectionClosed(input: {
    origin: string;
    id: string;
    sessionKey: string;
    userNkey: string;
  }): Promise<void>;
  /** `Auth.Connections.Kicked`. */
  connectionKicked(input: { origin: string; id: string; userNkey: string; kickedBy: string }): Promise<void>;
}

/** The sentinel credentials handed to every client. */
export interface SentinelCredentials {
  /** The sentinel user's JWT. */
  jwt: string;
  /** The sentinel user's seed. */
  seed: string;
}

/** Everything the domain modules need. */
export interface ControlPlaneContext {
  /** Validated configuration. */
  config: ControlPlaneConfig;
  /** The SQLite store. */
  store: ControlPlaneStore;
  /** Logger. */
  logger: Logger;
  /** AUTH-account KV buckets. */
  kv: { pendingAuth: KV; browserFlows: KV; oauthStates: KV };
  /** Live connections. */
  connections: ConnectionControl;
  /** Event publishing. */
  events: AuthEvents;
  /** Credentials handed to clients. */
  sentinel: SentinelCredentials;
  /** NATS servers clients connect to. */
  natsServers: string[];
  /** The public origin of the HTTP server (links, portal URLs). */
  publicOrigin: string;
  /** The contract catalog: built-in contracts and the digests active in enabled deployments. */
  catalog: ContractCatalog;
  /** Deployment authority: plans, decisions, reconciliation. */
  deploymentAuthority: DeploymentAuthorityService;
  /** Server clock. */
  now(): Date;
}
