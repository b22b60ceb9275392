/**
 * Account flows opened from a one-time link (`/_trellis/portal/account/password?flowId=`): the admin
 * bootstrap and admin-issued local password resets (auth spec §4 `account_flows`). The flow id is a
 * bearer secret; the store keeps only its hash.
 */
import { Result } from "@trellis/result";
import type { ControlPlaneContext } from "../context.js";
import type { AccountFlow } from "../store/account-flows-repository.js";
import { completeLocalPasswordReset, isAdminBootstrapFlow } from "../users/bootstrap.js";
import { passwordPolicy } from "../users/passwords.js";
import { FlowError } from "./errors.js";

/** What the portal shows for an account flow (`GET /auth/account-flow/:flowId`). */
export type AccountFlowState = {
  status: "password_required";
  kind: "local_password_reset";
  /** The local username whose password is set. */
  username: string | null;
  /** `true` for the admin bootstrap (the account becomes an active administrator). */
  bootstrap: boolean;
  expiresAt: string;
  /** Minimum password length of this deployment. */
  passwordMinLength: number;
};

/** Answer of {@link setAccountFlowPassword}. */
export type AccountPasswordResult = { status: "password_set"; userId: string; username: string | null };

function passwordFlow(flow: AccountFlow): Result<AccountFlow, FlowError> {
  // Identity-link flows need federated providers, which do not exist yet.
  return flow.kind === "local_password_reset" && flow.targetUserId !== null
    ? Result.ok(flow)
    : Result.err(new FlowError("flow_not_found"));
}

/** The state of a usable account flow; `flow_not_found`, `flow_expired` or `flow_consumed` otherwise. */
export function getAccountFlowState(
  ctx: ControlPlaneContext,
  flowId: string,
): Result<AccountFlowState, FlowError> {
  const usable = ctx.store.accountFlows.getUsable(flowId, ctx.now());
  if (!usable.ok) return Result.err(new FlowError(usable.error.reason));
  return passwordFlow(usable.value).map((flow) => ({
    status: "password_required",
    kind: "local_password_reset",
    username: flow.targetLocalUsername,
    bootstrap: isAdminBootstrapFlow(flow),
    expiresAt: flow.expiresAt,
    passwordMinLength: ctx.config.auth.passwordMinLength,
  }));
}

/**
 * Sets the local password of an account flow's user and consumes the flow (once). A bootstrap flow
 * also makes the account an active administrator. Refusals: `flow_not_found|flow_expired|
 * flow_consumed`, `password_too_short|password_too_long`, `username_taken`.
 */
export async function setAccountFlowPassword(
  ctx: ControlPlaneContext,
  flowId: string,
  password: string,
): Promise<Result<AccountPasswordResult, FlowError>> {
  const now = ctx.now();
  const before = ctx.store.accountFlows.getUsable(flowId, now);
  if (!before.ok) return Result.err(new FlowError(before.error.reason));
  const flow = passwordFlow(before.value);
  if (!flow.ok) return Result.err(flow.error);
  const done = await completeLocalPasswordReset(ctx.store, flowId, password, {
    now,
    policy: passwordPolicy({ minLength: ctx.config.auth.passwordMinLength }),
  });
  if (!done.ok) return Result.err(new FlowError(done.error.reason, done.error.message));
  return Result.ok({
    status: "password_set",
    userId: done.value.userId,
    username: flow.value.targetLocalUsername,
  });
}
