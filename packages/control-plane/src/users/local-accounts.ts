/**
 * Local (username/password) accounts: creating one and setting a password, with the policy applied
 * and the hashing done before the (synchronous) store transaction.
 */
import { Result } from "@trellis/result";
import { IdentityNotFoundError } from "../store/errors.js";
import { LOCAL_PROVIDER } from "../store/identities-repository.js";
import type { LocalCredential } from "../store/local-credentials-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { User } from "../store/users-repository.js";
import { type PasswordPolicyError, UsernameTakenError } from "./errors.js";
import {
  checkPasswordPolicy,
  DEFAULT_PASSWORD_POLICY,
  hashPassword,
  type PasswordPolicy,
} from "./passwords.js";

/** Input of {@link createLocalUser}. */
export interface CreateLocalUserInput {
  username: string;
  password: string;
  name?: string;
  email?: string | null;
  /** Default `true`. */
  active?: boolean;
  capabilities?: readonly string[];
  capabilityGroups?: readonly string[];
  /** Ask the user to choose a new password at next login (default `false`). */
  mustChangePassword?: boolean;
  policy?: PasswordPolicy;
  now?: Date;
}

/** Creates an account with a local identity (`username`) and password, atomically. */
export async function createLocalUser(
  store: ControlPlaneStore,
  input: CreateLocalUserInput,
): Promise<Result<User, PasswordPolicyError | UsernameTakenError>> {
  const now = input.now ?? store.clock();
  const policy = checkPasswordPolicy(input.password, input.policy ?? DEFAULT_PASSWORD_POLICY);
  if (!policy.ok) return Result.err(policy.error);
  if (store.identities.findLocal(input.username) !== undefined) {
    return Result.err(new UsernameTakenError(input.username));
  }
  const hash = await hashPassword(input.password);
  return store.transaction((): Result<User, PasswordPolicyError | UsernameTakenError> => {
    if (store.identities.findLocal(input.username) !== undefined) {
      return Result.err(new UsernameTakenError(input.username));
    }
    const user = store.users
      .create(
        {
          name: input.name ?? input.username,
          email: input.email ?? null,
          active: input.active ?? true,
          capabilities: input.capabilities ?? [],
          capabilityGroups: input.capabilityGroups ?? [],
        },
        now,
      )
      .unwrap();
    const identity = store.identities
      .link(
        {
          userId: user.userId,
          provider: LOCAL_PROVIDER,
          subject: input.username,
          displayName: user.name,
          email: user.email,
        },
        now,
      )
      .unwrap();
    store.localCredentials.setPassword(
      identity.identityId,
      hash,
      { mustChangePassword: input.mustChangePassword ?? false },
      now,
    );
    return Result.ok(user);
  });
}

/** Sets the password of a local identity (resets the lockout). */
export async function setLocalPassword(
  store: ControlPlaneStore,
  identityId: string,
  password: string,
  options: { mustChangePassword?: boolean; policy?: PasswordPolicy; now?: Date } = {},
): Promise<Result<LocalCredential, PasswordPolicyError | IdentityNotFoundError>> {
  const now = options.now ?? store.clock();
  const policy = checkPasswordPolicy(password, options.policy ?? DEFAULT_PASSWORD_POLICY);
  if (!policy.ok) return Result.err(policy.error);
  const identity = store.identities.get(identityId);
  if (identity === undefined || identity.provider !== LOCAL_PROVIDER) {
    return Result.err(new IdentityNotFoundError(identityId));
  }
  const hash = await hashPassword(password);
  return store.transaction((): Result<LocalCredential, PasswordPolicyError | IdentityNotFoundError> => {
    if (store.identities.get(identityId) === undefined)
      return Result.err(new IdentityNotFoundError(identityId));
    return Result.ok(
      store.localCredentials.setPassword(
        identityId,
        hash,
        { mustChangePassword: options.mustChangePassword ?? false },
        now,
      ),
    );
  });
}
