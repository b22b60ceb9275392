/** Mounting every `trellis.auth@v1` RPC the control plane serves on its `trellis` service. */
import { Result } from "@trellis/result";
import type { TrellisService } from "@trellis/runtime";
import type { ControlPlaneContext } from "../context.js";
import { authorityHandlers } from "./authority.js";
import { capabilityHandlers } from "./capabilities.js";
import { connectionHandlers } from "./connections.js";
import { deploymentHandlers } from "./deployments.js";
import { STORE_HEALTH_CHECK, storeHealthCheck } from "./health.js";
import { identityGrantHandlers } from "./identity-grants.js";
import { ReplayCache } from "./replay-cache.js";
import { ControlPlaneSessionAuthority } from "./session-authority.js";
import { sessionHandlers } from "./sessions.js";
import type { AuthContract, AuthRpcDeps } from "./types.js";
import { userHandlers } from "./users.js";
import { validateRequest } from "./validate.js";

/**
 * Mounts the auth RPCs on `service` (a `TrellisService` of `trellis.auth@v1`) and registers the store
 * health check. `authority` should be the one given to the service's authenticator; invalidations
 * reach every authority over the same store either way.
 */
export function mountAuthRpcs(
  service: TrellisService<AuthContract>,
  ctx: ControlPlaneContext,
  authority: ControlPlaneSessionAuthority = new ControlPlaneSessionAuthority(ctx),
): void {
  const deps: AuthRpcDeps = { ctx, authority };
  const replay = new ReplayCache();
  const rpc = service.handle.rpc.auth;

  const sessions = sessionHandlers(deps);
  rpc.sessionsMe(sessions["Auth.Sessions.Me"]);
  rpc.sessionsLogout(sessions["Auth.Sessions.Logout"]);
  rpc.sessionsList(sessions["Auth.Sessions.List"]);
  rpc.sessionsRevoke(sessions["Auth.Sessions.Revoke"]);

  rpc.requestsValidate(async ({ input }) =>
    validateRequest(
      { resolve: (sessionKey, now) => authority.resolve(sessionKey, now), now: () => ctx.now(), replay },
      input,
    ),
  );

  const users = userHandlers(deps);
  rpc.usersList(users["Auth.Users.List"]);
  rpc.usersGet(users["Auth.Users.Get"]);
  rpc.usersCreate(users["Auth.Users.Create"]);
  rpc.usersUpdate(users["Auth.Users.Update"]);
  rpc.usersPasswordChange(users["Auth.Users.Password.Change"]);
  rpc.usersPasswordResetCreate(users["Auth.Users.PasswordReset.Create"]);

  const capabilities = capabilityHandlers(deps);
  rpc.capabilitiesList(capabilities["Auth.Capabilities.List"]);
  rpc.capabilityGroupsList(capabilities["Auth.CapabilityGroups.List"]);
  rpc.capabilityGroupsGet(capabilities["Auth.CapabilityGroups.Get"]);
  rpc.capabilityGroupsPut(capabilities["Auth.CapabilityGroups.Put"]);
  rpc.capabilityGroupsDelete(capabilities["Auth.CapabilityGroups.Delete"]);

  const grants = identityGrantHandlers(deps);
  rpc.identityGrantsList(grants["Auth.IdentityGrants.List"]);
  rpc.identityGrantsRevoke(grants["Auth.IdentityGrants.Revoke"]);

  const connections = connectionHandlers(deps);
  rpc.connectionsList(connections["Auth.Connections.List"]);
  rpc.connectionsKick(connections["Auth.Connections.Kick"]);

  const deployments = deploymentHandlers(deps);
  rpc.deploymentsCreate(deployments["Auth.Deployments.Create"]);
  rpc.deploymentsList(deployments["Auth.Deployments.List"]);
  rpc.deploymentsDisable(deployments["Auth.Deployments.Disable"]);
  rpc.deploymentsEnable(deployments["Auth.Deployments.Enable"]);
  rpc.deploymentsRemove(deployments["Auth.Deployments.Remove"]);
  rpc.serviceInstancesProvision(deployments["Auth.ServiceInstances.Provision"]);
  rpc.serviceInstancesList(deployments["Auth.ServiceInstances.List"]);
  rpc.serviceInstancesDisable(deployments["Auth.ServiceInstances.Disable"]);
  rpc.serviceInstancesEnable(deployments["Auth.ServiceInstances.Enable"]);
  rpc.serviceInstancesRemove(deployments["Auth.ServiceInstances.Remove"]);

  const deploymentAuthority = authorityHandlers(deps);
  rpc.deploymentAuthorityList(deploymentAuthority["Auth.DeploymentAuthority.List"]);
  rpc.deploymentAuthorityGet(deploymentAuthority["Auth.DeploymentAuthority.Get"]);
  rpc.deploymentAuthorityPlan(deploymentAuthority["Auth.DeploymentAuthority.Plan"]);
  rpc.deploymentAuthorityPlansList(deploymentAuthority["Auth.DeploymentAuthority.Plans.List"]);
  rpc.deploymentAuthorityPlansGet(deploymentAuthority["Auth.DeploymentAuthority.Plans.Get"]);
  rpc.deploymentAuthorityAcceptUpdate(deploymentAuthority["Auth.DeploymentAuthority.AcceptUpdate"]);
  rpc.deploymentAuthorityAcceptMigration(deploymentAuthority["Auth.DeploymentAuthority.AcceptMigration"]);
  rpc.deploymentAuthorityReject(deploymentAuthority["Auth.DeploymentAuthority.Reject"]);
  rpc.deploymentAuthorityReconcile(deploymentAuthority["Auth.DeploymentAuthority.Reconcile"]);

  service.health.add(STORE_HEALTH_CHECK, storeHealthCheck(ctx.store));
  rpc.health(async () => Result.ok(await service.health.run()));
}
