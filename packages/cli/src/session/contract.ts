/**
 * `trellis.cli@v1`: the agent contract the `trellis` CLI signs in with. Approving it delegates to the
 * CLI's session what its commands call: the baseline `Auth.Sessions.Me/Logout` (added by
 * `defineAgentContract`), the administration RPCs of deployments, service instances and deployment
 * authority (plans and their decisions), and the Jobs admin RPCs of `trellis.jobs@v1` (`trellis jobs`).
 */
import { trellisAuth, trellisJobs } from "@trellis/builtin-contracts";
import { defineAgentContract } from "@trellis/contracts";

/** The CLI's contract module. */
export const trellisCli = defineAgentContract({}, () => ({
  id: "trellis.cli@v1",
  displayName: "Trellis CLI",
  description: "The trellis command line: sign-in and administration of this Trellis installation.",
  uses: {
    required: {
      auth: trellisAuth.use({
        rpc: {
          call: [
            "Auth.Sessions.Me",
            "Auth.Sessions.Logout",
            "Auth.Deployments.Create",
            "Auth.Deployments.List",
            "Auth.Deployments.Disable",
            "Auth.Deployments.Enable",
            "Auth.Deployments.Remove",
            "Auth.ServiceInstances.Provision",
            "Auth.ServiceInstances.List",
            "Auth.ServiceInstances.Disable",
            "Auth.ServiceInstances.Enable",
            "Auth.ServiceInstances.Remove",
            "Auth.DeploymentAuthority.List",
            "Auth.DeploymentAuthority.Get",
            "Auth.DeploymentAuthority.Plan",
            "Auth.DeploymentAuthority.Plans.List",
            "Auth.DeploymentAuthority.Plans.Get",
            "Auth.DeploymentAuthority.AcceptUpdate",
            "Auth.DeploymentAuthority.AcceptMigration",
            "Auth.DeploymentAuthority.Reject",
            "Auth.DeploymentAuthority.Reconcile",
          ],
        },
      }),
      jobs: trellisJobs.use({
        rpc: {
          call: [
            "Jobs.Health",
            "Jobs.List",
            "Jobs.Get",
            "Jobs.ListServices",
            "Jobs.ListDLQ",
            "Jobs.Cancel",
            "Jobs.Retry",
            "Jobs.ReplayDLQ",
            "Jobs.DismissDLQ",
          ],
        },
      }),
    },
  },
}));
