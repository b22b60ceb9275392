/**
 * `local_credentials`: password hashes of local identities, with the failed-login counter and lock.
 * Our algorithm is node:crypto scrypt: `password_algorithm = "scrypt"`, `password_params =
 * {v:1, salt, N, r, p, keyLength}` (salt base64url), `password_hash` = base64url(derived key).
 */
import { ulid } from "ulid";
import { z } from "zod";
import { type Clock, iso, parseJsonColumn, systemClock, toSqlBool } from "./codec.js";
import type { SqliteDatabase } from "./database.js";
import { StoreCorruptionError } from "./errors.js";

/** The only password algorithm this control plane writes. */
export const SCRYPT_ALGORITHM = "scrypt";

/** Stored scrypt parameters (bounded so a tampered row cannot make verification exhaust memory). */
export const ScryptParamsSchema = z.object({
  v: z.literal(1),
  salt: z.string().regex(/^[A-Za-z0-9_-]+$/),
  N: z
    .number()
    .int()
    .min(2)
    .max(2 ** 18)
    .refine((n) => (n & (n - 1)) === 0, "N must be a power of two"),
  r: z.number().int().min(1).max(16),
  p: z.number().int().min(1).max(4),
  keyLength: z.number().int().min(16).max(128),
});

/** Stored scrypt parameters. */
export type ScryptParams = z.infer<typeof ScryptParamsSchema>;

/** A stored password hash with its parameters. */
export interface PasswordHash {
  algorithm: typeof SCRYPT_ALGORITHM;
  /** base64url of the derived key. */
  hash: string;
  params: ScryptParams;
}

/** The local credential of an identity. */
export interface LocalCredential {
  identityId: string;
  password: PasswordHash;
  passwordSetAt: string;
  mustChangePassword: boolean;
  failedLoginCount: number;
  /** While `lockedUntil` is in the future, logins are refused. */
  lockedUntil: string | null;
}

/** Lockout policy: `maxFailures` consecutive failures lock the account for `lockMs`. */
export interface LockoutPolicy {
  maxFailures: number;
  lockMs: number;
}

/** 5 consecutive failures lock for 15 minutes (auth spec §4). */
export const DEFAULT_LOCKOUT_POLICY: LockoutPolicy = { maxFailures: 5, lockMs: 15 * 60 * 1000 };

interface CredentialRow {
  identity_id: string;
  password_hash: string;
  password_algorithm: string;
  password_params: string;
  password_set_at: string;
  must_change_password: number;
  failed_login_count: number;
  locked_until: string | null;
}

const COLUMNS =
  "identity_id, password_hash, password_algorithm, password_params, password_set_at, must_change_password, failed_login_count, locked_until";

function toCredential(row: CredentialRow): LocalCredential {
  if (row.password_algorithm !== SCRYPT_ALGORITHM) {
    throw new StoreCorruptionError(
      `local_credentials.password_algorithm '${row.password_algorithm}' is not supported`,
      {
        context: { identityId: row.identity_id },
      },
    );
  }
  return {
    identityId: row.identity_id,
    password: {
      algorithm: SCRYPT_ALGORITHM,
      hash: row.password_hash,
      params: parseJsonColumn(ScryptParamsSchema, row.password_params, {
        table: "local_credentials",
        column: "password_params",
      }),
    },
    passwordSetAt: row.password_set_at,
    mustChangePassword: row.must_change_password === 1,
    failedLoginCount: row.failed_login_count,
    lockedUntil: row.locked_until,
  };
}

/** `true` while the credential's lock is in force at `now`. */
export function isLocked(credential: LocalCredential, now: Date): boolean {
  return credential.lockedUntil !== null && Date.parse(credential.lockedUntil) > now.getTime();
}

/** Repository of `local_credentials`. */
export class LocalCredentialsRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The credential of an identity, or `undefined`. */
  get(identityId: string): LocalCredential | undefined {
    const row = this.db
      .prepare<[string], CredentialRow>(`SELECT ${COLUMNS} FROM local_credentials WHERE identity_id = ?`)
      .get(identityId);
    return row === undefined ? undefined : toCredential(row);
  }

  /**
   * Sets (or replaces) the password of a local identity; clears the failure counter and the lock.
   * The identity must exist (foreign key).
   */
  setPassword(
    identityId: string,
    password: PasswordHash,
    options: { mustChangePassword?: boolean } = {},
    now: Date = this.clock(),
  ): LocalCredential {
    const credential: LocalCredential = {
      identityId,
      password,
      passwordSetAt: iso(now),
      mustChangePassword: options.mustChangePassword ?? false,
      failedLoginCount: 0,
      lockedUntil: null,
    };
    this.db
      .prepare(
        `INSERT INTO local_credentials (id, ${COLUMNS}) VALUES (@id, @identityId, @hash, @algorithm, @params,
           @setAt, @mustChange, 0, NULL)
         ON CONFLICT (identity_id) DO UPDATE SET password_hash = excluded.password_hash,
           password_algorithm = excluded.password_algorithm, password_params = excluded.password_params,
           password_set_at = excluded.password_set_at, must_change_password = excluded.must_change_password,
           failed_login_count = 0, locked_until = NULL`,
      )
      .run({
        id: ulid(),
        identityId,
        hash: password.hash,
        algorithm: password.algorithm,
        params: JSON.stringify(password.params),
        setAt: credential.passwordSetAt,
        mustChange: toSqlBool(credential.mustChangePassword),
      });
    return credential;
  }

  /**
   * Counts a failed login atomically. A lock that has run out starts a fresh count; reaching
   * `policy.maxFailures` locks until `now + policy.lockMs`. Returns the updated credential
   * (`undefined` when there is none).
   */
  recordFailure(
    identityId: string,
    now: Date = this.clock(),
    policy: LockoutPolicy = DEFAULT_LOCKOUT_POLICY,
  ): LocalCredential | undefined {
    return this.db
      .transaction((): LocalCredential | undefined => {
        const current = this.get(identityId);
        if (current === undefined) return undefined;
        const lockExpired = current.lockedUntil !== null && !isLocked(current, now);
        const failures = (lockExpired ? 0 : current.failedLoginCount) + 1;
        let lockedUntil = lockExpired ? null : current.lockedUntil;
        if (failures >= policy.maxFailures && lockedUntil === null) {
          lockedUntil = iso(new Date(now.getTime() + policy.lockMs));
        }
        this.db
          .prepare<[number, string | null, string]>(
            "UPDATE local_credentials SET failed_login_count = ?, locked_until = ? WHERE identity_id = ?",
          )
          .run(failures, lockedUntil, identityId);
        return { ...current, failedLoginCount: failures, lockedUntil };
      })
      .immediate();
  }

  /** Clears the failure counter and lock after a successful login. */
  recordSuccess(identityId: string): void {
    this.db
      .prepare<[string]>(
        "UPDATE local_credentials SET failed_login_count = 0, locked_until = NULL WHERE identity_id = ?",
      )
      .run(identityId);
  }

  /** Sets or clears the "must change password" flag. Returns `false` when there is no credential. */
  setMustChangePassword(identityId: string, mustChange: boolean): boolean {
    return (
      this.db
        .prepare<[number, string]>(
          "UPDATE local_credentials SET must_change_password = ? WHERE identity_id = ?",
        )
        .run(toSqlBool(mustChange), identityId).changes > 0
    );
  }

  /** Removes the credential. Returns `false` when there was none. */
  delete(identityId: string): boolean {
    return (
      this.db.prepare<[string]>("DELETE FROM local_credentials WHERE identity_id = ?").run(identityId)
        .changes > 0
    );
  }
}
