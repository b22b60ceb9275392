/**
 * `Auth.Deployments.*` and `Auth.ServiceInstances.*`: administration of service deployments and the
 * service instances (public session keys) provisioned in them. Device deployments are declared by
 * the contract but not served yet: asking for one is refused.
 */
import { Result } from "@trellis/result";
import { ValidationError } from "@trellis/runtime";
import type {
  DeploymentHasInstancesError,
  DeploymentNotFoundError,
  ServiceDeployment,
} from "../store/service-deployments-repository.js";
import type { ServiceInstance } from "../store/service-instances-repository.js";
import { mapPage } from "./paging.js";
import { refuse, success } from "./responses.js";
import { revokeSession } from "./revocation.js";
import { notifySessionInvalidated } from "./session-authority.js";
import type { AuthRpcDeps, AuthRpcHandlers, AuthRpcOutput } from "./types.js";

type DeploymentsRpc =
  | "Auth.Deployments.Create"
  | "Auth.Deployments.List"
  | "Auth.Deployments.Disable"
  | "Auth.Deployments.Enable"
  | "Auth.Deployments.Remove"
  | "Auth.ServiceInstances.Provision"
  | "Auth.ServiceInstances.List"
  | "Auth.ServiceInstances.Disable"
  | "Auth.ServiceInstances.Enable"
  | "Auth.ServiceInstances.Remove";

type DeploymentView = AuthRpcOutput<"Auth.Deployments.Create">["deployment"];
type InstanceView = AuthRpcOutput<"Auth.ServiceInstances.Provision">["instance"];

/** A public session key: 32 bytes of Ed25519 key as unpadded base64url. */
const SESSION_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Reason of requests naming a device deployment. */
export const DEVICE_DEPLOYMENTS_UNSUPPORTED = "device_deployments_unsupported";

function refuseDevice() {
  return refuse(DEVICE_DEPLOYMENTS_UNSUPPORTED, "Device deployments are not supported yet");
}

/** A service deployment as the RPCs show it. */
export function deploymentView(deployment: ServiceDeployment): DeploymentView {
  return {
    kind: "service",
    deploymentId: deployment.deploymentId,
    namespaces: deployment.namespaces,
    contractCompatibilityMode: deployment.contractCompatibilityMode,
    disabled: deployment.disabled,
  };
}

/** A service instance as the RPCs show it (resource bindings are not materialized yet). */
export function instanceView(instance: ServiceInstance): InstanceView {
  return {
    instanceId: instance.instanceId,
    deploymentId: instance.deploymentId,
    instanceKey: instance.instanceKey,
    disabled: instance.disabled,
    capabilities: instance.capabilities,
    createdAt: instance.createdAt,
  };
}

/** Handlers of `Auth.Deployments.*` and `Auth.ServiceInstances.*`. */
export function deploymentHandlers({ ctx }: AuthRpcDeps): AuthRpcHandlers<DeploymentsRpc> {
  const { store } = ctx;

  /**
   * Ends what an instance holds on the bus: its session (if any) is deleted and its live
   * connections are kicked, so a disabled or removed instance cannot keep acting.
   */
  const endInstanceSession = async (instanceKey: string, by: string): Promise<void> => {
    if (await revokeSession(ctx, instanceKey, by)) return;
    notifySessionInvalidated(store, instanceKey);
    try {
      await ctx.connections.kickSession(instanceKey);
    } catch (cause) {
      ctx.logger.warn({ err: cause, instanceKey }, "Could not kick the connections of a service instance");
    }
  };

  return {
    "Auth.Deployments.Create": async ({ input }) => {
      if (input.kind !== "service") return refuseDevice();
      const created = store.serviceDeployments.create(
        {
          deploymentId: input.deploymentId,
          namespaces: input.namespaces,
          ...(input.contractCompatibilityMode !== undefined && {
            contractCompatibilityMode: input.contractCompatibilityMode,
          }),
        },
        ctx.now(),
      );
      if (!created.ok) return refuse(created.error.reason, created.error.message);
      return Result.ok({ deployment: deploymentView(created.value) });
    },

    "Auth.Deployments.List": async ({ input }) => {
      const page = { offset: input.offset, limit: input.limit };
      // There are no device deployments (yet): asking only for those finds none.
      if (input.kind === "device") {
        return Result.ok({ entries: [], count: 0, offset: input.offset ?? 0, limit: input.limit });
      }
      return Result.ok(
        mapPage(
          store.serviceDeployments.list(page, {
            ...(input.disabled !== undefined && { disabled: input.disabled }),
          }),
          deploymentView,
        ),
      );
    },

    "Auth.Deployments.Disable": async ({ input }) => {
      if (input.kind !== "service") return refuseDevice();
      const updated = store.serviceDeployments.setDisabled(input.deploymentId, true, ctx.now());
      if (!updated.ok) return refuse(updated.error.reason, updated.error.message);
      // Lookups check the deployment again; drop what caches hold for its instances.
      for (const instance of store.serviceInstances.listByDeployment(input.deploymentId)) {
        notifySessionInvalidated(store, instance.instanceKey);
      }
      return Result.ok({ deployment: deploymentView(updated.value) });
    },

    "Auth.Deployments.Enable": async ({ input }) => {
      if (input.kind !== "service") return refuseDevice();
      const updated = store.serviceDeployments.setDisabled(input.deploymentId, false, ctx.now());
      if (!updated.ok) return refuse(updated.error.reason, updated.error.message);
      return Result.ok({ deployment: deploymentView(updated.value) });
    },

    "Auth.Deployments.Remove": async ({ input, context }) => {
      if (input.kind !== "service") return refuseDevice();
      const { deploymentId } = input;
      const removed = store.transaction(
        (): Result<ServiceInstance[], DeploymentNotFoundError | DeploymentHasInstancesError> => {
          // Instances go first only with `cascade`, and only when the deployment exists.
          const instances =
            input.cascade === true && store.serviceDeployments.get(deploymentId) !== undefined
              ? store.serviceInstances.removeByDeployment(deploymentId)
              : [];
          const result = store.serviceDeployments.remove(deploymentId);
          return result.ok ? Result.ok(instances) : Result.err(result.error);
        },
      );
      if (!removed.ok) return refuse(removed.error.reason, removed.error.message);
      for (const instance of removed.value) await endInstanceSession(instance.instanceKey, context.caller.id);
      return success();
    },

    "Auth.ServiceInstances.Provision": async ({ input }) => {
      if (!SESSION_KEY_PATTERN.test(input.instanceKey)) {
        return Result.err(
          new ValidationError([
            {
              path: "/instanceKey",
              message: "must be a public session key (43 characters of unpadded base64url)",
            },
          ]),
        );
      }
      const provisioned = store.serviceInstances.provision(
        { deploymentId: input.deploymentId, instanceKey: input.instanceKey },
        ctx.now(),
      );
      if (!provisioned.ok) return refuse(provisioned.error.reason, provisioned.error.message);
      return Result.ok({ instance: instanceView(provisioned.value) });
    },

    "Auth.ServiceInstances.List": async ({ input }) =>
      Result.ok(
        mapPage(
          store.serviceInstances.list(
            { offset: input.offset, limit: input.limit },
            {
              ...(input.deploymentId !== undefined && { deploymentId: input.deploymentId }),
              ...(input.disabled !== undefined && { disabled: input.disabled }),
            },
          ),
          instanceView,
        ),
      ),

    "Auth.ServiceInstances.Disable": async ({ input, context }) => {
      const updated = store.serviceInstances.setDisabled(input.instanceId, true, ctx.now());
      if (!updated.ok) return refuse(updated.error.reason, updated.error.message);
      await endInstanceSession(updated.value.instanceKey, context.caller.id);
      return Result.ok({ instance: instanceView(updated.value) });
    },

    "Auth.ServiceInstances.Enable": async ({ input }) => {
      const updated = store.serviceInstances.setDisabled(input.instanceId, false, ctx.now());
      if (!updated.ok) return refuse(updated.error.reason, updated.error.message);
      notifySessionInvalidated(store, updated.value.instanceKey);
      return Result.ok({ instance: instanceView(updated.value) });
    },

    "Auth.ServiceInstances.Remove": async ({ input, context }) => {
      const removed = store.serviceInstances.remove(input.instanceId);
      if (!removed.ok) return refuse(removed.error.reason, removed.error.message);
      await endInstanceSession(removed.value.instanceKey, context.caller.id);
      return success();
    },
  };
}
