/**
 * Starting the control plane: store, the three NATS connections (AUTH for the callout and auth
 * buckets, SYS for disconnect advisories and kicks, TRELLIS for RPCs and events), infrastructure,
 * the auth callout, admin bootstrap, HTTP and the `Auth.*` RPCs — and stopping it in reverse order.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { trellisAuth, trellisCore, trellisJobs, trellisState } from "@trellis/builtin-contracts";
import type { AnyContractModule } from "@trellis/contracts";
import {
  closeIfDown,
  drainOrClose,
  type Logger,
  Metrics,
  ProofCallerAuthenticator,
  resolveLogger,
  TrellisService,
} from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { createAuthEvents } from "./auth-events.js";
import { createDeploymentAuthority } from "./authority/index.js";
import { AuthCallout, type CalloutDecision } from "./callout/callout.js";
import { ConnectionRegistry } from "./callout/connections.js";
import { markServiceDisconnected, ServicePrincipalResolver } from "./callout/service-principals.js";
import { UserPrincipalResolver } from "./callout/user-principals.js";
import { type ControlPlaneConfig, publicOrigin } from "./config.js";
import type { ControlPlaneContext, SentinelCredentials } from "./context.js";
import { createHttpApp, startHttpServer } from "./http/index.js";
import { ensureAuthBuckets, ensureEventStream, probeReplicas } from "./infrastructure.js";
import { JobMetrics } from "./jobs/metrics.js";
import { JobsProjection } from "./jobs/projection.js";
import { type JobsAdminRuntime, startJobsAdmin } from "./jobs/runtime.js";
import { ensureJobStreams } from "./jobs/streams.js";
import {
  ControlPlaneSessionAuthority,
  mountAuthRpcs,
  mountCoreRpcs,
  mountJobsRpcs,
  mountStateRpcs,
} from "./rpc/index.js";
import { openStore } from "./store/store.js";
import { ensureAdminBootstrap, ensureDevAdmin } from "./users/bootstrap.js";

/** The control plane's version, reported by `GET /version`. */
export const CONTROL_PLANE_VERSION = "0.1.0";

/** Options of {@link startControlPlane}. */
export interface StartControlPlaneOptions {
  /** Logger (`false` silences). */
  logger?: Logger | false;
  /** Creates or updates an active local admin (development and CI). */
  devAdmin?: { username: string; password: string };
}

/** A running control plane. */
export interface ControlPlane {
  /** Base URL of the HTTP server. */
  url: string;
  /** The domain context (store, buckets, connections, events). */
  context: ControlPlaneContext;
  /** The `trellis` service serving `Auth.*`. */
  service: TrellisService<typeof trellisAuth>;
  /** The most recent callout decisions, newest last (diagnostics and tests). */
  recentCalloutDecisions(): readonly CalloutDecision[];
  /** The Jobs admin (projection, actions, janitor). */
  jobs: JobsAdminRuntime;
  /** Stops everything, in reverse order. Idempotent. */
  stop(): Promise<void>;
}

/** Reads a `.creds` file into the sentinel's JWT and seed. */
export function readCreds(path: string): SentinelCredentials {
  const text = readFileSync(path, "utf8");
  const jwt = /-----BEGIN NATS USER JWT-----\s*([^\s-][^\n]*)\s*------END NATS USER JWT------/
    .exec(text)?.[1]
    ?.trim();
  const seed = /-----BEGIN USER NKEY SEED-----\s*(SU[A-Z2-7]+)\s*------END USER NKEY SEED------/
    .exec(text)?.[1]
    ?.trim();
  if (!jwt || !seed) throw new Error(`'${path}' is not a NATS credentials file`);
  return { jwt, seed };
}

function readSeedFile(path: string): string {
  return readFileSync(path, "utf8").trim();
}

/** The control plane's own session key seed: read from the file, or generated and saved there. */
function controlPlaneSeed(config: ControlPlaneConfig): string {
  const file = config.sessionKeySeedFile;
  if (!file) return generateSessionSeed();
  if (existsSync(file)) return readSeedFile(file);
  const seed = generateSessionSeed();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${seed}\n`, { mode: 0o600 });
  return seed;
}

async function connectAs(
  servers: string | string[],
  credsPath: string,
  name: string,
  inboxPrefix?: string,
): Promise<NatsConnection> {
  return connect({
    servers,
    name,
    authenticator: credsAuthenticator(readFileSync(credsPath)),
    maxReconnectAttempts: -1,
    ...(inboxPrefix && { inboxPrefix }),
  });
}

/** Starts the control plane described by `config`. */
export async function startControlPlane(
  config: ControlPlaneConfig,
  options: StartControlPlaneOptions = {},
): Promise<ControlPlane> {
  const logger = resolveLogger(options.logger, { component: "control-plane" });
  const stops: (() => Promise<void> | void)[] = [];
  const connections: NatsConnection[] = [];
  const stopAll = async () => {
    // With nats-server gone every subscription drain would wait for a reconnect attempt: close first.
    await Promise.all(connections.map((nc) => closeIfDown(nc)));
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (cause) {
        logger.warn({ err: cause }, "Error while stopping the control plane");
      }
    }
  };
  try {
    const store = openStore(config.storage.dbPath);
    stops.push(() => store.close());
    const seed = controlPlaneSeed(config);
    const sessionKey = sessionKeyFromSeed(seed);
    const servers = config.nats.servers;
    const auth = await connectAs(servers, config.nats.auth.credsPath, "trellis-auth");
    stops.push(() => drainOrClose(auth));
    const sys = await connectAs(servers, config.nats.system.credsPath, "trellis-system");
    stops.push(() => drainOrClose(sys));
    const trellis = await connectAs(
      servers,
      config.nats.trellis.credsPath,
      "trellis",
      `_INBOX.${sessionKey.slice(0, 16)}`,
    );
    stops.push(() => drainOrClose(trellis));
    connections.push(auth, sys, trellis);

    const replicas = await probeReplicas(sys, config.jetstream.replicas);
    const buckets = await ensureAuthBuckets(auth, config, replicas);
    await ensureEventStream(trellis, replicas);
    await ensureJobStreams(await jetstreamManager(trellis), replicas);
    const events = createAuthEvents(jetstream(trellis), trellisAuth, logger);

    const registry = new ConnectionRegistry(buckets.connections, sys, logger, {
      closed: (connection) => {
        if (connection.kind === "device") return;
        if (connection.kind === "service") {
          // The instance's offers go `disconnected` once its last connection is gone.
          void registry
            .list(connection.sessionKey)
            .then((live) => markServiceDisconnected(store, connection.sessionKey, live.length))
            .catch((cause: unknown) =>
              logger.warn({ err: cause }, "Could not record a service instance's disconnect"),
            );
        }
        void events.connectionClosed({
          origin: connection.kind ?? "user",
          id: connection.scopeId ?? "",
          sessionKey: connection.sessionKey,
          userNkey: connection.userNkey,
        });
      },
    });
    registry.start();
    stops.push(() => registry.stop());

    const sentinel = readCreds(config.nats.sentinelCredsPath);
    const clientServers = config.nats.clientServers ?? servers;
    const { catalog, deploymentAuthority } = createDeploymentAuthority({
      store,
      nc: trellis,
      logger,
      now: () => new Date(),
      replicas,
    });
    const context: ControlPlaneContext = {
      config,
      store,
      logger,
      kv: {
        pendingAuth: buckets.pendingAuth,
        browserFlows: buckets.browserFlows,
        oauthStates: buckets.oauthStates,
      },
      connections: registry,
      events,
      sentinel,
      natsServers: Array.isArray(clientServers) ? clientServers : [clientServers],
      publicOrigin: publicOrigin(config),
      catalog,
      deploymentAuthority,
      now: () => new Date(),
    };

    const decisions: CalloutDecision[] = [];
    const callout = new AuthCallout({
      nc: auth,
      keys: {
        issuerAccount: config.nats.authCallout.issuer.nkey,
        issuerSigningSeed: readSeedFile(config.nats.authCallout.issuer.signingSeedFile),
        targetAccount: config.nats.authCallout.target.nkey,
        targetSigningSeed: readSeedFile(config.nats.authCallout.target.signingSeedFile),
        xkeySeed: readSeedFile(config.nats.authCallout.sxSeedFile),
      },
      // Service instances first (auth spec §3.2 step 4), then user sessions.
      resolver: new ServicePrincipalResolver(store, new UserPrincipalResolver(store)),
      onDecision: (decision) => {
        decisions.push(decision);
        if (decisions.length > 200) decisions.shift();
      },
      jwtTtlMs: config.ttlMs.natsJwt,
      logger,
      onAdmitted: async (admitted) => {
        await registry.record(admitted);
        if (admitted.principal.kind !== "device") {
          await events.connectionOpened({
            origin: admitted.principal.kind,
            id: admitted.principal.scopeId,
            sessionKey: admitted.token.sessionKey,
            userNkey: admitted.userNkey,
          });
        }
      },
    });
    callout.start();
    stops.push(() => callout.stop());

    if (options.devAdmin) {
      const created = await ensureDevAdmin(store, options.devAdmin);
      if (created.isErr()) throw created.error;
      logger.info({ username: options.devAdmin.username }, "Development admin is ready");
    }
    const metrics = new Metrics();
    const authority = new ControlPlaneSessionAuthority(context);
    const authenticator = new ProofCallerAuthenticator({ authority });
    /**
     * Opens a built-in contract's service as `trellis` on the TRELLIS connection, mounts its RPCs and
     * starts it. The auth service owns the connection; the others share it (drained by its stop).
     */
    const serve = async <M extends AnyContractModule>(
      contract: M,
      mount: (service: TrellisService<M>) => void,
      ownsConnection = false,
    ): Promise<TrellisService<M>> => {
      const opened = await TrellisService.open({
        nc: trellis,
        contract,
        name: "trellis",
        sessionKeySeed: seed,
        authenticator,
        metrics,
        logger,
        heartbeat: false,
        ownsConnection,
      });
      mount(opened);
      await opened.start();
      stops.push(() => opened.stop());
      return opened;
    };
    const service = await serve(trellisAuth, (opened) => mountAuthRpcs(opened, context, authority), true);
    await serve(trellisState, (opened) => mountStateRpcs(opened, { store, bucketConnection: auth, logger }));
    await serve(trellisCore, (opened) => mountCoreRpcs(opened, { store }));
    const jobs = await startJobsAdmin({
      nc: trellis,
      db: store.db,
      logger,
      janitorIntervalMs: config.jobs.janitorIntervalMs,
      metrics: new JobMetrics(metrics.registry, {
        projection: new JobsProjection(store.db),
        jsm: await jetstreamManager(trellis),
      }),
    });
    stops.push(() => jobs.stop());
    await serve(trellisJobs, (opened) => mountJobsRpcs(opened, { jobs }));

    const app = createHttpApp(context, { version: CONTROL_PLANE_VERSION, metrics: () => metrics.expose() });
    const http = await startHttpServer(app, { host: config.http.host, port: config.http.port });
    stops.push(() => http.close());
    // Without a configured public origin, links use the address actually bound (port 0 picks one).
    if (!config.http.publicOrigin) context.publicOrigin = http.url;
    const bootstrap = ensureAdminBootstrap(store, { publicOrigin: context.publicOrigin });
    if (bootstrap.status === "bootstrap_required") {
      logger.warn(
        { url: bootstrap.url, expiresAt: bootstrap.expiresAt },
        `No active admin: set the admin password at ${bootstrap.url}`,
      );
    }

    logger.info({ url: http.url }, "Control plane ready");

    let stopping: Promise<void> | undefined;
    return {
      url: http.url,
      context,
      service,
      recentCalloutDecisions: () => decisions,
      jobs,
      stop: () => {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
