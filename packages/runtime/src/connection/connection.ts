/**
 * The NATS connection of a participant (runtime spec §6.1 step 4): the session-scoped inbox prefix,
 * unlimited reconnects, and one distinct log line per connection state.
 */

import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  jwtAuthenticator,
  type NatsConnection,
  tokenAuthenticator,
} from "@nats-io/transport-node";
import { clientInboxPrefix } from "@trellis/contracts";
import { TransportError } from "../errors/errors.js";
import type { Logger } from "../telemetry/logger.js";

/** How a participant authenticates to NATS. */
export interface NatsCredentials {
  /** The runtime token (`auth_token`), or a function producing a fresh one per (re)connect. */
  token?: string | (() => string);
  /** The sentinel user's JWT and seed handed out by the control plane. */
  sentinel?: { jwt: string; seed: string };
}

/** Options of {@link connectToNats}. */
export interface ConnectToNatsOptions {
  /** Server URLs. */
  servers: string | string[];
  /** The participant's session key; scopes the inbox prefix. */
  sessionKey: string;
  /** Connection name shown by the server. */
  name: string;
  /** Credentials (omit for an open development server). */
  credentials?: NatsCredentials;
  /** Logger for connection state changes. */
  logger: Logger;
  /** Extra nats.js options. */
  extra?: Partial<ConnectionOptions>;
}

/** Connects with the Trellis settings and logs every state change; failures are `TransportError`s. */
export async function connectToNats(options: ConnectToNatsOptions): Promise<NatsConnection> {
  const authenticators: Authenticator[] = [];
  const { credentials } = options;
  if (credentials?.sentinel) {
    authenticators.push(
      jwtAuthenticator(credentials.sentinel.jwt, new TextEncoder().encode(credentials.sentinel.seed)),
    );
  }
  if (credentials?.token) authenticators.push(tokenAuthenticator(credentials.token));
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers,
      name: options.name,
      inboxPrefix: clientInboxPrefix(options.sessionKey),
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      // Async stack traces cost ≈ 20 µs per request on the caller (see design/benchmarks.md).
      noAsyncTraces: true,
      ...(authenticators.length > 0 && { authenticator: authenticators }),
      ...options.extra,
    });
  } catch (cause) {
    throw new TransportError(
      "trellis.runtime.connect_failed",
      `Could not connect to NATS: ${String(cause)}`,
      { cause },
    );
  }
  void logConnectionStates(nc, options.logger);
  return nc;
}

async function logConnectionStates(nc: NatsConnection, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case "disconnect":
        logger.warn({ server: status.server }, "Disconnected from NATS");
        break;
      case "reconnecting":
        logger.warn("Attempting NATS reconnect");
        break;
      case "reconnect":
        logger.info({ server: status.server }, "Reconnected to NATS");
        break;
      case "forceReconnect":
        logger.warn("Forcing NATS reconnect");
        break;
      case "staleConnection":
        logger.warn("NATS connection became stale");
        break;
      case "error":
        logger.error({ err: status.error }, "NATS error");
        break;
      case "close":
        logger.info("NATS connection closed");
        break;
      default:
        break;
    }
  }
}

/**
 * Closes `nc` when it is down (the server is gone, it is reconnecting) or does not answer a ping
 * within `timeoutMs`, where draining it or its subscriptions could only wait; `true` when it is closed.
 */
export async function closeIfDown(nc: NatsConnection, timeoutMs = 1000): Promise<boolean> {
  if (nc.isClosed()) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  // `rtt()` rejects at once on a connection that is down.
  const up = await Promise.race([
    nc.rtt().then(
      () => true,
      () => false,
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  if (up) return false;
  await nc.close().catch(() => undefined);
  return true;
}

/**
 * Drains a connection, or closes it outright when it cannot drain: at once when it is down (see
 * {@link closeIfDown}), else when draining does not finish within `timeoutMs`.
 */
export async function drainOrClose(nc: NatsConnection, timeoutMs = 5000): Promise<void> {
  if (await closeIfDown(nc)) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const outcome = await Promise.race([
    nc.drain().then(
      () => "drained" as const,
      () => "failed" as const,
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  if (outcome !== "drained") await nc.close().catch(() => undefined);
}
