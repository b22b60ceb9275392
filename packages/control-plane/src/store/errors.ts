/**
 * Errors raised by the control-plane store. Expected failures (not found, conflicts, spent flows) travel
 * as `Err` values with a stable `reason`; defects (a corrupt row, a schema newer than the code) are thrown.
 */
import { BaseError } from "@trellis/result";

/** The database was written by a newer version of the control plane; thrown by `openDatabase`. */
export class SchemaTooNewError extends BaseError {
  readonly reason = "schema_too_new" as const;

  constructor(databaseVersion: number, codeVersion: number, path: string) {
    super(
      `Database '${path}' has schema version ${databaseVersion}, but this control plane only knows versions up to ${codeVersion}; upgrade the control plane (or restore a matching backup) before opening it`,
      { context: { databaseVersion, codeVersion, path } },
    );
  }
}

/** A recorded migration does not match the code's migration of the same version; thrown by `openDatabase`. */
export class MigrationMismatchError extends BaseError {
  readonly reason = "migration_mismatch" as const;
}

/** A stored row could not be decoded (bad JSON column, unexpected value): a defect, thrown. */
export class StoreCorruptionError extends BaseError {
  readonly reason = "store_corrupt" as const;
}

/** No user with this id. */
export class UserNotFoundError extends BaseError {
  readonly reason = "user_not_found" as const;

  constructor(userId: string) {
    super(`User '${userId}' not found`, { context: { userId } });
  }
}

/** A user with this id already exists. */
export class UserAlreadyExistsError extends BaseError {
  readonly reason = "user_already_exists" as const;

  constructor(userId: string) {
    super(`User '${userId}' already exists`, { context: { userId } });
  }
}

/** The (provider, subject) identity is already linked to an account, or the user already has a local identity. */
export class IdentityAlreadyLinkedError extends BaseError {
  readonly reason = "identity_already_linked" as const;

  constructor(provider: string, subject: string) {
    super(`Identity '${provider}:${subject}' is already linked (or the user already has a local identity)`, {
      context: { provider, subject },
    });
  }
}

/** No identity with this id. */
export class IdentityNotFoundError extends BaseError {
  readonly reason = "identity_not_found" as const;

  constructor(identityId: string) {
    super(`Identity '${identityId}' not found`, { context: { identityId } });
  }
}

/** Why an account flow cannot be used. */
export type AccountFlowFailureReason = "flow_not_found" | "flow_expired" | "flow_consumed";

/** An account flow is unknown, expired or already used. */
export class AccountFlowUnavailableError extends BaseError {
  constructor(
    readonly reason: AccountFlowFailureReason,
    message?: string,
  ) {
    super(message ?? accountFlowMessage(reason));
  }
}

function accountFlowMessage(reason: AccountFlowFailureReason): string {
  switch (reason) {
    case "flow_not_found":
      return "Account flow not found";
    case "flow_expired":
      return "Account flow has expired";
    case "flow_consumed":
      return "Account flow has already been used";
  }
}

/** The built-in capability group (`admin`) cannot be written or deleted. */
export class CapabilityGroupReadOnlyError extends BaseError {
  readonly reason = "capability_group_read_only" as const;

  constructor(groupKey: string) {
    super(`Capability group '${groupKey}' is built in and read-only`, { context: { groupKey } });
  }
}

/** No capability group with this key. */
export class CapabilityGroupNotFoundError extends BaseError {
  readonly reason = "capability_group_not_found" as const;

  constructor(groupKey: string) {
    super(`Capability group '${groupKey}' not found`, { context: { groupKey } });
  }
}

/** No identity grant with this id. */
export class IdentityGrantNotFoundError extends BaseError {
  readonly reason = "identity_grant_not_found" as const;

  constructor(identityGrantId: string) {
    super(`Identity grant '${identityGrantId}' not found`, { context: { identityGrantId } });
  }
}
