/**
 * Local passwords: scrypt hashing (node:crypto), the length policy, and `localLogin` with lockout
 * (5 consecutive failures lock the account for 15 minutes; a success resets the counter).
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { Result } from "@trellis/result";
import type {
  LocalCredential,
  LockoutPolicy,
  PasswordHash,
  ScryptParams,
} from "../store/local-credentials-repository.js";
import { DEFAULT_LOCKOUT_POLICY, isLocked, SCRYPT_ALGORITHM } from "../store/local-credentials-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { User } from "../store/users-repository.js";
import { AuthFailure, InvalidPasswordPolicyError, PasswordPolicyError } from "./errors.js";

/** scrypt cost parameters of new hashes: N=16384, r=8, p=1, 32-byte key. */
export const SCRYPT_COST = Object.freeze({ N: 16384, r: 8, p: 1, keyLength: 32 });

/** Default minimum password length. */
export const DEFAULT_MIN_PASSWORD_LENGTH = 12;

/** The lowest minimum length a deployment may configure. */
export const MIN_PASSWORD_LENGTH_FLOOR = 8;

/** Longest accepted password (bounds hashing work). */
export const MAX_PASSWORD_LENGTH = 1024;

/** Password length policy (lengths count Unicode code points). */
export interface PasswordPolicy {
  readonly minLength: number;
  readonly maxLength: number;
}

/** Builds a policy; throws {@link InvalidPasswordPolicyError} below the floor of 8. */
export function passwordPolicy(options: { minLength?: number } = {}): PasswordPolicy {
  const minLength = options.minLength ?? DEFAULT_MIN_PASSWORD_LENGTH;
  if (
    !Number.isInteger(minLength) ||
    minLength < MIN_PASSWORD_LENGTH_FLOOR ||
    minLength > MAX_PASSWORD_LENGTH
  ) {
    throw new InvalidPasswordPolicyError(
      `Minimum password length must be an integer between ${MIN_PASSWORD_LENGTH_FLOOR} and ${MAX_PASSWORD_LENGTH}, got ${minLength}`,
      { context: { minLength } },
    );
  }
  return Object.freeze({ minLength, maxLength: MAX_PASSWORD_LENGTH });
}

/** The default policy (minimum 12). */
export const DEFAULT_PASSWORD_POLICY: PasswordPolicy = passwordPolicy();

/** Checks a password against the policy. */
export function checkPasswordPolicy(
  password: string,
  policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY,
): Result<void, PasswordPolicyError> {
  const length = [...password].length;
  if (length < policy.minLength)
    return Result.err(new PasswordPolicyError("password_too_short", policy.minLength));
  if (length > policy.maxLength)
    return Result.err(new PasswordPolicyError("password_too_long", policy.maxLength));
  return Result.ok();
}

function deriveKey(
  password: string,
  salt: Buffer,
  params: Omit<ScryptParams, "v" | "salt">,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize("NFC"),
      salt,
      params.keyLength,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (error, key) => (error === null ? resolve(key) : reject(error)),
    );
  });
}

/** Hashes a password with scrypt and a random 16-byte salt. Does not apply the policy. */
export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const key = await deriveKey(password, salt, SCRYPT_COST);
  return {
    algorithm: SCRYPT_ALGORITHM,
    hash: key.toString("base64url"),
    params: { v: 1, salt: salt.toString("base64url"), ...SCRYPT_COST },
  };
}

/** `true` when `password` matches the stored hash (constant-time comparison). */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, "base64url");
  const actual = await deriveKey(password, Buffer.from(stored.params.salt, "base64url"), stored.params);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

let dummyHash: Promise<PasswordHash> | undefined;

/** Spends the same work as a real verification, so unknown usernames take as long as wrong passwords. */
async function burnVerification(password: string): Promise<void> {
  dummyHash ??= hashPassword(randomBytes(16).toString("base64url"));
  await verifyPassword(password, await dummyHash);
}

/** Options of {@link localLogin}. */
export interface LocalLoginOptions {
  lockout?: LockoutPolicy;
}

/**
 * Authenticates a local username/password at `now`. Failures: `account_locked` (while locked; the
 * password is not checked), `invalid_credentials` (unknown username, no password set, or wrong
 * password — indistinguishable), `user_inactive` (right password, deactivated account). Wrong
 * passwords count towards the lockout; a right one resets the counter and records the login.
 */
export async function localLogin(
  store: ControlPlaneStore,
  username: string,
  password: string,
  now: Date = store.clock(),
  options: LocalLoginOptions = {},
): Promise<Result<User, AuthFailure>> {
  const lockout = options.lockout ?? DEFAULT_LOCKOUT_POLICY;
  const identity = store.identities.findLocal(username);
  const credential: LocalCredential | undefined =
    identity === undefined ? undefined : store.localCredentials.get(identity.identityId);
  if (identity === undefined || credential === undefined) {
    await burnVerification(password);
    return Result.err(new AuthFailure("invalid_credentials"));
  }
  if (isLocked(credential, now)) return Result.err(new AuthFailure("account_locked"));

  if (!(await verifyPassword(password, credential.password))) {
    store.localCredentials.recordFailure(identity.identityId, now, lockout);
    return Result.err(new AuthFailure("invalid_credentials"));
  }

  const user = store.users.get(identity.userId);
  if (user === undefined) return Result.err(new AuthFailure("invalid_credentials"));
  store.transaction(() => {
    store.localCredentials.recordSuccess(identity.identityId);
    if (user.active) store.identities.recordLogin(identity.identityId, now);
  });
  if (!user.active) return Result.err(new AuthFailure("user_inactive"));
  return Result.ok(user);
}
