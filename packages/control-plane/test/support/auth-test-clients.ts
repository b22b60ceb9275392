/**
 * Callers of the `Auth.*` RPCs for tests that write user sessions straight into the store: the test
 * agent contract, a client per session seed, and bound user sessions as the login flow would write them.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trellisAuth } from "@trellis/builtin-contracts";
import { defineAgentContract } from "@trellis/contracts";
import type { BaseError, Result } from "@trellis/result";
import { AuthError, TrellisClient } from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { expect } from "vitest";
import type { ControlPlaneStore } from "../../src/store/store.js";
import type { User } from "../../src/store/users-repository.js";

/** Every `Auth.*` RPC the test agent may call (what a session may do is decided by the session). */
export const ALL_AUTH_RPCS = [
  "Auth.DeploymentAuthority.AcceptMigration",
  "Auth.DeploymentAuthority.AcceptUpdate",
  "Auth.DeploymentAuthority.Get",
  "Auth.DeploymentAuthority.List",
  "Auth.DeploymentAuthority.Plan",
  "Auth.DeploymentAuthority.Plans.Get",
  "Auth.DeploymentAuthority.Plans.List",
  "Auth.DeploymentAuthority.Reconcile",
  "Auth.DeploymentAuthority.Reject",
  "Auth.Deployments.Create",
  "Auth.Deployments.Disable",
  "Auth.Deployments.Enable",
  "Auth.Deployments.List",
  "Auth.Deployments.Remove",
  "Auth.ServiceInstances.Disable",
  "Auth.ServiceInstances.Enable",
  "Auth.ServiceInstances.List",
  "Auth.ServiceInstances.Provision",
  "Auth.ServiceInstances.Remove",
  "Auth.Capabilities.List",
  "Auth.CapabilityGroups.Delete",
  "Auth.CapabilityGroups.Get",
  "Auth.CapabilityGroups.List",
  "Auth.CapabilityGroups.Put",
  "Auth.Connections.Kick",
  "Auth.Connections.List",
  "Auth.Health",
  "Auth.IdentityGrants.List",
  "Auth.IdentityGrants.Revoke",
  "Auth.Requests.Validate",
  "Auth.Sessions.List",
  "Auth.Sessions.Logout",
  "Auth.Sessions.Me",
  "Auth.Sessions.Revoke",
  "Auth.Users.Create",
  "Auth.Users.Get",
  "Auth.Users.List",
  "Auth.Users.Password.Change",
  "Auth.Users.PasswordReset.Create",
  "Auth.Users.Update",
] as const;

/** The caller every test participant presents. */
export const authCli = defineAgentContract({}, () => ({
  id: "auth-test-cli@v1",
  displayName: "Auth test CLI",
  description: "Calls the auth RPCs in tests.",
  uses: { required: { auth: trellisAuth.use({ rpc: { call: [...ALL_AUTH_RPCS] } }) } },
}));

/** A client of the test agent contract. */
export type AuthTestClient = TrellisClient<typeof authCli>;

/** Asserts that `result` is an `AuthError` with `reason`. */
export function expectAuthError(result: Result<unknown, BaseError>, reason: string): void {
  expect(result.isErr(), `expected AuthError(${reason})`).toBe(true);
  if (!result.isErr()) return;
  expect(result.error).toBeInstanceOf(AuthError);
  if (result.error instanceof AuthError) expect(result.error.reason).toBe(reason);
}

/** Polls `check` every 20 ms for up to 5 s. */
export async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Options of a bound user session written by {@link authTestClients}' `userSession`. */
export interface UserSessionOptions {
  capabilities?: string[];
  publish?: string[];
  identityGrantId?: string;
  seed?: string;
}

/**
 * Clients on the test's nats-server (`url()`), recorded in `connections` for the test to close, and
 * user sessions written into `store()`.
 */
export function authTestClients(env: {
  url: () => string;
  store: () => ControlPlaneStore;
  connections: NatsConnection[];
}) {
  async function participant(seed: string): Promise<AuthTestClient> {
    const nc = await connect({
      servers: env.url(),
      inboxPrefix: `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`,
    });
    env.connections.push(nc);
    return TrellisClient.open({ nc, contract: authCli, sessionKeySeed: seed, logger: false });
  }

  /** Writes a bound user session (as the login flow would) and returns a client signing with it. */
  async function userSession(
    user: User,
    options: UserSessionOptions = {},
  ): Promise<{ seed: string; sessionKey: string; client: AuthTestClient }> {
    const store = env.store();
    const seed = options.seed ?? generateSessionSeed();
    const sessionKey = sessionKeyFromSeed(seed);
    const identity = store.identities.listByUser(user.userId)[0];
    if (!identity) throw new Error(`user ${user.userId} has no identity`);
    store.sessions.upsert({
      sessionKey,
      trellisId: user.userId,
      type: "user",
      origin: identity.provider,
      externalId: identity.subject,
      identityGrantId: options.identityGrantId ?? null,
      contractDigest: authCli.CONTRACT_DIGEST,
      contractId: authCli.CONTRACT_ID,
      participantKind: "agent",
      session: {
        userId: user.userId,
        identity: { identityId: identity.identityId, provider: identity.provider, subject: identity.subject },
        participantKind: "agent",
        delegatedCapabilities: options.capabilities ?? [],
        delegatedPublishSubjects: options.publish ?? ["rpc.v1.Auth.>"],
        delegatedSubscribeSubjects: [],
      },
    });
    return { seed, sessionKey, client: await participant(seed) };
  }

  return { participant, userSession };
}
