/**
 * `Auth.IdentityGrants.*`: the approvals a user gave to apps and agents. Callers see their own;
 * administrators may name another user.
 */
import { ADMIN_CAPABILITY } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { AuthError, type Caller } from "@trellis/runtime";
import type { IdentityGrant } from "../store/identity-grants-repository.js";
import { pageOf } from "./paging.js";
import { success } from "./responses.js";
import { revokeIdentityGrant } from "./revocation.js";
import type { AuthRpcDeps, AuthRpcHandlers, AuthRpcOutput } from "./types.js";

type GrantsRpc = "Auth.IdentityGrants.List" | "Auth.IdentityGrants.Revoke";

type GrantEntry = AuthRpcOutput<"Auth.IdentityGrants.List">["entries"][number];

/** Whose grants a request is about: the caller's own, or (administrators only) `user`'s. */
export function grantOwner(caller: Caller, user: string | undefined): Result<string, AuthError> {
  const self = caller.type === "user" ? caller.id : undefined;
  if (user === undefined || user === self) {
    return self === undefined
      ? Result.err(new AuthError("invalid_request", "Name the user whose identity grants are meant"))
      : Result.ok(self);
  }
  return caller.capabilities.includes(ADMIN_CAPABILITY)
    ? Result.ok(user)
    : Result.err(
        new AuthError("insufficient_permissions", "Only administrators may act on another user's grants", {
          context: { requiredCapabilities: [ADMIN_CAPABILITY] },
        }),
      );
}

function anchorView(grant: IdentityGrant): GrantEntry["identityAnchor"] {
  const { anchor } = grant;
  switch (anchor.kind) {
    case "web":
      return { kind: "web", contractId: anchor.contractId, origin: anchor.origin };
    case "cli":
    case "native":
      return { kind: anchor.kind, contractId: anchor.contractId, sessionPublicKey: anchor.sessionPublicKey };
    case "device-user":
      return { kind: "device-user", contractId: anchor.contractId, devicePublicKey: anchor.sessionPublicKey };
  }
}

/** An identity grant as the RPCs show it. */
function grantView(grant: IdentityGrant): GrantEntry {
  const displayName = grant.approval.displayName || grant.contractId;
  return {
    identityGrantId: grant.identityGrantId,
    identityAnchor: anchorView(grant),
    contractEvidence: { contractDigest: grant.evidenceContractDigest, contractId: grant.contractId },
    displayName,
    description: grant.approval.description || displayName,
    participantKind: grant.participantKind,
    capabilities: grant.capabilities,
    grantedAt: grant.answeredAt,
    updatedAt: grant.updatedAt,
  };
}

/** Handlers of `Auth.IdentityGrants.*`. */
export function identityGrantHandlers({ ctx }: AuthRpcDeps): AuthRpcHandlers<GrantsRpc> {
  const { store } = ctx;
  return {
    "Auth.IdentityGrants.List": async ({ input, context }) => {
      const owner = grantOwner(context.caller, input.user);
      if (!owner.ok) return Result.err(owner.error);
      const grants = store.identityGrants
        .listByUser(owner.value)
        .filter((grant) => grant.answer === "approved")
        .map(grantView);
      return Result.ok(pageOf(grants, input));
    },

    "Auth.IdentityGrants.Revoke": async ({ input, context }) => {
      const owner = grantOwner(context.caller, input.user);
      if (!owner.ok) return Result.err(owner.error);
      const grant = store.identityGrants.get(input.identityGrantId);
      // Someone else's grant looks exactly like a missing one.
      if (grant === undefined || grant.userId !== owner.value) return success(false);
      return success(await revokeIdentityGrant(ctx, grant.identityGrantId, context.caller.id));
    },
  };
}
