/**
 * The harness of the `Auth.*` RPC tests: a plain nats-server, a SQLite file, the auth buckets and
 * event stream, a connection registry, events observed on `events.v1.Auth.>`, an admin (`root`) and a
 * user (`alice`), and the `trellis` service with every `Auth.*` RPC mounted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trellisAuth } from "@trellis/builtin-contracts";
import { EVENTS_STREAM, EVENTS_STREAM_SUBJECTS } from "@trellis/contracts";
import {
  EventPublisher,
  ProofCallerAuthenticator,
  resolveLogger,
  SchemaSet,
  TrellisService,
} from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { createDeploymentAuthority } from "../../src/authority/index.js";
import { ConnectionRegistry } from "../../src/callout/connections.js";
import { parseControlPlaneConfig } from "../../src/config.js";
import type { AuthEvents, ControlPlaneContext } from "../../src/context.js";
import { ControlPlaneSessionAuthority, mountAuthRpcs } from "../../src/rpc/index.js";
import { type ControlPlaneStore, openStore } from "../../src/store/store.js";
import type { User } from "../../src/store/users-repository.js";
import { createLocalUser } from "../../src/users/local-accounts.js";

/** An event seen on `events.v1.Auth.>`. */
export interface PublishedEvent {
  event: string;
  payload: Record<string, unknown>;
}

/** What {@link startAuthRpcHarness} starts. */
export interface AuthRpcHarness {
  server: NatsServerHandle;
  dir: string;
  store: ControlPlaneStore;
  ctx: ControlPlaneContext;
  service: TrellisService<typeof trellisAuth>;
  registry: ConnectionRegistry;
  admin: User;
  alice: User;
  /** Stops the service, closes the connections, stops the server and removes the folder. */
  stop(): Promise<void>;
}

/** Starts the harness; connections opened by the test go in `connections` and are closed by `stop()`. */
export async function startAuthRpcHarness(options: {
  name: string;
  password: string;
  connections: NatsConnection[];
  published: PublishedEvent[];
}): Promise<AuthRpcHarness> {
  const server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), `trellis-${options.name}-`));
  const store = openStore(join(dir, "trellis.sqlite"));
  const logger = resolveLogger(false);

  const system = await connect({ servers: server.url });
  options.connections.push(system);
  const jsm = await jetstreamManager(system);
  await jsm.streams.add({ name: EVENTS_STREAM, subjects: [EVENTS_STREAM_SUBJECTS] });
  const kvm = new Kvm(system);
  const [pendingAuth, browserFlows, oauthStates, connectionsKv] = await Promise.all([
    kvm.create("trellis_pending_auth", { history: 1 }),
    kvm.create("trellis_browser_flows", { history: 1 }),
    kvm.create("trellis_oauth_states", { history: 1 }),
    kvm.create("trellis_connections", { history: 1 }),
  ]);
  // A plain server has no system account: kick requests find no responder, and the registry still
  // forgets the connection, which is what these tests observe.
  const registry = new ConnectionRegistry(connectionsKv, system, logger);

  const publisher = new EventPublisher({
    js: jetstream(system),
    contract: trellisAuth,
    schemas: SchemaSet.of(trellisAuth.CONTRACT),
    logger,
  });
  const publish = async (event: string, data: Record<string, unknown>) => {
    const result = await publisher.publish(event as never, data as never);
    if (result.isErr()) throw result.error;
  };
  const events: AuthEvents = {
    sessionRevoked: (input) => publish("Auth.Sessions.Revoked", input),
    connectionOpened: (input) => publish("Auth.Connections.Opened", input),
    connectionClosed: (input) => publish("Auth.Connections.Closed", input),
    connectionKicked: (input) => publish("Auth.Connections.Kicked", input),
  };
  const observer = system.subscribe("events.v1.Auth.>");
  void (async () => {
    for await (const msg of observer) {
      options.published.push({
        event: msg.subject.replace(/^events\.v1\./, ""),
        payload: msg.json<Record<string, unknown>>(),
      });
    }
  })();

  const ctx: ControlPlaneContext = {
    config: parseControlPlaneConfig(
      {
        nats: {
          servers: server.url,
          authCallout: {
            issuer: { nkey: `A${"A".repeat(55)}`, signingSeedFile: "issuer.seed" },
            target: { nkey: `A${"B".repeat(55)}`, signingSeedFile: "target.seed" },
            sxSeedFile: "xkey.seed",
          },
          auth: { credsPath: "auth.creds" },
          trellis: { credsPath: "trellis.creds" },
          system: { credsPath: "system.creds" },
          sentinelCredsPath: "sentinel.creds",
        },
        storage: { dbPath: join(dir, "trellis.sqlite") },
        http: { publicOrigin: "https://trellis.example.com" },
      },
      { baseDir: dir },
    ),
    store,
    logger,
    kv: { pendingAuth, browserFlows, oauthStates },
    connections: registry,
    events,
    sentinel: { jwt: "sentinel-jwt", seed: "sentinel-seed" },
    natsServers: [server.url],
    publicOrigin: "https://trellis.example.com",
    ...createDeploymentAuthority({ store, nc: system, logger, now: () => new Date() }),
    now: () => new Date(),
  };

  const admin = (
    await createLocalUser(store, {
      username: "root",
      password: options.password,
      capabilityGroups: ["admin"],
    })
  ).unwrap();
  const alice = (
    await createLocalUser(store, {
      username: "alice",
      password: options.password,
      email: "alice@example.com",
      capabilities: ["billing::read"],
    })
  ).unwrap();

  const serviceSeed = generateSessionSeed();
  const nc = await connect({
    servers: server.url,
    inboxPrefix: `_INBOX.${sessionKeyFromSeed(serviceSeed).slice(0, 16)}`,
  });
  const authority = new ControlPlaneSessionAuthority(ctx);
  const service = await TrellisService.open({
    nc,
    contract: trellisAuth,
    name: "trellis",
    sessionKeySeed: serviceSeed,
    authenticator: new ProofCallerAuthenticator({ authority }),
    heartbeat: false,
    logger: false,
  });
  mountAuthRpcs(service, ctx, authority);
  await service.start();
  return {
    server,
    dir,
    store,
    ctx,
    service,
    registry,
    admin,
    alice,
    async stop() {
      await service.stop();
      for (const nc of options.connections) await nc.close().catch(() => undefined);
      await server.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
