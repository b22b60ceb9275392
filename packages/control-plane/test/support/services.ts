/**
 * Deploying and running services against a real platform (`startPlatform()`): an admin tool signed in
 * through the portal, a deployment (`strict` or `mutable-dev`) and an instance with a fresh seed
 * created over the `Auth.*` RPCs, pending authority plans accepted as they appear, and the service
 * started in-process with `TrellisService.connect` (real `POST /bootstrap/service`).
 */
import { Writable } from "node:stream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { trellisAuth, trellisCore } from "@trellis/builtin-contracts";
import { type AnyContractModule, defineAgentContract } from "@trellis/contracts";
import { type Logger, TrellisService } from "@trellis/runtime";
import { generateSessionSeed, natsConnectValue, sessionKeyFromSeed, signDomain } from "@trellis/runtime/auth";
import type { PlatformHandle } from "@trellis/testing";
import { pino } from "pino";
import { signIn } from "./platform-sign-in.js";

/** The administrator's tool in these tests: deployments, instances, authority, sessions and the catalog. */
export const servicesAdminContract = defineAgentContract({}, () => ({
  id: "e2e.services-admin@v1",
  displayName: "Services test admin",
  description: "Deploys services, decides their authority plans and revokes sessions.",
  uses: {
    required: {
      auth: trellisAuth.use({
        rpc: {
          call: [
            "Auth.Sessions.Me",
            "Auth.Sessions.List",
            "Auth.Sessions.Revoke",
            "Auth.Users.Update",
            "Auth.Deployments.Create",
            "Auth.Deployments.List",
            "Auth.ServiceInstances.Provision",
            "Auth.ServiceInstances.List",
            "Auth.DeploymentAuthority.List",
            "Auth.DeploymentAuthority.Get",
            "Auth.DeploymentAuthority.Plans.List",
            "Auth.DeploymentAuthority.AcceptUpdate",
            "Auth.DeploymentAuthority.Reconcile",
          ],
        },
      }),
      core: trellisCore.use({ rpc: { call: ["Trellis.Catalog"] } }),
    },
  },
}));

/** A connected admin tool. */
export type ServicesAdmin = Awaited<ReturnType<typeof connectServicesAdmin>>;

/** Signs the platform's dev admin in with {@link servicesAdminContract}. */
export function connectServicesAdmin(platform: PlatformHandle) {
  const admin = platform.admin;
  if (!admin) throw new Error("the platform was started without a dev admin");
  return signIn(platform, servicesAdminContract, admin.username, admin.password);
}

/** Unwraps an RPC result, throwing with the error's reason otherwise. */
export function ok<T>(result: { isOk(): boolean; value?: T; error?: unknown }, what: string): T {
  if (!result.isOk()) {
    const error = result.error as { message?: string; reason?: string } | undefined;
    throw new Error(`${what} failed: ${error?.reason ?? ""} ${error?.message ?? String(error)}`);
  }
  return result.value as T;
}

/** Polls `probe` until it returns a value other than `undefined`, failing after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 15_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A deployment's compatibility mode. */
export type CompatibilityMode = "strict" | "mutable-dev";

/** Creates a service deployment. */
export async function createDeployment(
  admin: ServicesAdmin,
  input: { deploymentId: string; namespaces: string[]; mode: CompatibilityMode },
): Promise<void> {
  ok(
    await admin.rpc.auth.deploymentsCreate({
      kind: "service",
      deploymentId: input.deploymentId,
      namespaces: input.namespaces,
      contractCompatibilityMode: input.mode,
    }),
    `Auth.Deployments.Create ${input.deploymentId}`,
  );
}

/** A provisioned instance: its seed (the service's credential), public key and id. */
export interface ProvisionedInstance {
  deploymentId: string;
  seed: string;
  sessionKey: string;
  instanceId: string;
}

/** Provisions an instance of `deploymentId` keyed by a fresh seed. */
export async function provisionInstance(
  admin: ServicesAdmin,
  deploymentId: string,
): Promise<ProvisionedInstance> {
  const seed = generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  const { instance } = ok(
    await admin.rpc.auth.serviceInstancesProvision({ deploymentId, instanceKey: sessionKey }),
    `Auth.ServiceInstances.Provision ${deploymentId}`,
  );
  return { deploymentId, seed, sessionKey, instanceId: instance.instanceId };
}

/** Creates a deployment and provisions one instance of it. */
export async function deployContract(
  admin: ServicesAdmin,
  input: { deploymentId: string; namespaces: string[]; mode: CompatibilityMode },
): Promise<ProvisionedInstance> {
  await createDeployment(admin, input);
  return provisionInstance(admin, input.deploymentId);
}

/**
 * Accepts the deployment's pending update plans as they appear, until `until` settles (a service's
 * connect in a `strict` deployment). Returns the accepted plan ids.
 */
export async function acceptPlansUntil(
  admin: ServicesAdmin,
  deploymentId: string,
  until: Promise<unknown>,
  timeoutMs = 30_000,
): Promise<string[]> {
  let settled = false;
  until.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const accepted: string[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!settled && Date.now() < deadline) {
    const plans = ok(
      await admin.rpc.auth.deploymentAuthorityPlansList({ deploymentId, state: "pending", limit: 100 }),
      "Auth.DeploymentAuthority.Plans.List",
    );
    for (const plan of plans.entries) {
      if (plan.classification !== "update") {
        throw new Error(`unexpected ${plan.classification} plan ${plan.planId} for ${deploymentId}`);
      }
      ok(
        await admin.rpc.auth.deploymentAuthorityAcceptUpdate({ planId: plan.planId }),
        `Auth.DeploymentAuthority.AcceptUpdate ${plan.planId}`,
      );
      accepted.push(plan.planId);
    }
    if (!settled) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return accepted;
}

/** A logger that keeps every record (as parsed JSON) instead of printing it. */
export function capturingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") records.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), records };
}

/** Options of {@link startService}. */
export interface StartServiceOptions<M extends AnyContractModule> {
  contract: M;
  instance: Pick<ProvisionedInstance, "seed">;
  name: string;
  /** Mounts the handlers before the service starts. */
  mount?: (service: TrellisService<M>) => void;
  /** Where the runtime logs (silent by default). */
  logger?: Logger;
  /** Aborts the bootstrap loop (default: after 60 s). */
  signal?: AbortSignal;
}

/**
 * Bootstraps `contract` through the platform's control plane with the instance's seed, mounts the
 * handlers and starts the service. The bootstrap loop retries quickly (Retry-After capped at 500 ms).
 */
export async function startService<M extends AnyContractModule>(
  platform: PlatformHandle,
  options: StartServiceOptions<M>,
): Promise<TrellisService<M>> {
  const service = await TrellisService.connect({
    trellisUrl: platform.url,
    contract: options.contract,
    name: options.name,
    sessionKeySeed: options.instance.seed,
    logger: options.logger ?? false,
    heartbeat: false,
    bootstrap: {
      retryAfterMaxMs: 500,
      maxBackoffMs: 1000,
      httpTimeoutMs: 5000,
      signal: options.signal ?? AbortSignal.timeout(60_000),
    },
  });
  try {
    options.mount?.(service);
    await service.start();
    return service;
  } catch (error) {
    await service.stop().catch(() => undefined);
    throw error;
  }
}

/**
 * A connection to the TRELLIS account as the control plane's own user (allowed everything), for
 * looking at JetStream objects and for delivering hand-made requests. `inboxPrefix` sets the reply
 * inbox prefix its requests use.
 */
export function connectTrellisAccount(
  platform: PlatformHandle,
  options: { inboxPrefix?: string } = {},
): Promise<NatsConnection> {
  return connect({
    servers: platform.natsUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(platform.topology.users.trellisAuth.creds)),
    ...(options.inboxPrefix && { inboxPrefix: options.inboxPrefix }),
    maxReconnectAttempts: 0,
  });
}

/** `_INBOX.<sessionKey[0:16]>` of a seed's session. */
export function inboxPrefixOfSeed(seed: string): string {
  return `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`;
}

/** One `POST /bootstrap/service` exchange, signed with `seed`, presenting the manifest. */
export async function postServiceBootstrap(
  platform: PlatformHandle,
  contract: AnyContractModule,
  seed: string,
): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const iat = Math.floor(Date.now() / 1000);
  const response = await fetch(`${platform.url}/bootstrap/service`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      sessionKey: sessionKeyFromSeed(seed),
      contractId: contract.CONTRACT_ID,
      contractDigest: contract.CONTRACT_DIGEST,
      contract: contract.CONTRACT,
      iat,
      sig: signDomain(seed, "nats-connect", natsConnectValue(iat, contract.CONTRACT_DIGEST)),
    }),
    signal: AbortSignal.timeout(10_000),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    retryAfter: response.headers.get("retry-after"),
  };
}
