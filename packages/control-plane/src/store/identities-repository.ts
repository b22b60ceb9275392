/**
 * `user_identities`: provider identities (`provider`, `subject`) linked to accounts. An account links
 * many identities but at most one `local` one (subject = username).
 */
import { Result } from "@trellis/result";
import { ulid } from "ulid";
import { base64url, type Clock, iso, isUniqueViolation, systemClock, toSqlBool } from "./codec.js";
import type { SqliteDatabase } from "./database.js";
import { IdentityAlreadyLinkedError } from "./errors.js";

/** The provider name of username/password identities. */
export const LOCAL_PROVIDER = "local";

/** A provider identity linked to an account. */
export interface UserIdentity {
  identityId: string;
  userId: string;
  provider: string;
  subject: string;
  displayName: string | null;
  email: string | null;
  emailVerified: boolean;
  linkedAt: string;
  lastLoginAt: string | null;
}

/** Input of {@link IdentitiesRepository.link}. */
export interface LinkIdentityInput {
  userId: string;
  provider: string;
  subject: string;
  displayName?: string | null;
  email?: string | null;
  emailVerified?: boolean;
}

interface IdentityRow {
  identity_id: string;
  user_id: string;
  provider: string;
  subject: string;
  display_name: string | null;
  email: string | null;
  email_verified: number;
  linked_at: string;
  last_login_at: string | null;
}

const COLUMNS =
  "identity_id, user_id, provider, subject, display_name, email, email_verified, linked_at, last_login_at";

/** `"idn_" + base64url(utf8(provider + ":" + subject))` (auth spec §1.1). */
export function identityIdFor(provider: string, subject: string): string {
  return `idn_${base64url(`${provider}:${subject}`)}`;
}

function toIdentity(row: IdentityRow): UserIdentity {
  return {
    identityId: row.identity_id,
    userId: row.user_id,
    provider: row.provider,
    subject: row.subject,
    displayName: row.display_name,
    email: row.email,
    emailVerified: row.email_verified === 1,
    linkedAt: row.linked_at,
    lastLoginAt: row.last_login_at,
  };
}

/** Repository of `user_identities`. */
export class IdentitiesRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Links an identity to an account. `Err(IdentityAlreadyLinkedError)` when (provider, subject) is
   * linked already (to any account) or the account already has a local identity.
   */
  link(input: LinkIdentityInput, now: Date = this.clock()): Result<UserIdentity, IdentityAlreadyLinkedError> {
    const identity: UserIdentity = {
      identityId: identityIdFor(input.provider, input.subject),
      userId: input.userId,
      provider: input.provider,
      subject: input.subject,
      displayName: input.displayName ?? null,
      email: input.email ?? null,
      emailVerified: input.emailVerified ?? false,
      linkedAt: iso(now),
      lastLoginAt: null,
    };
    try {
      this.db
        .prepare(
          `INSERT INTO user_identities (id, ${COLUMNS}) VALUES (@id, @identityId, @userId, @provider, @subject,
             @displayName, @email, @emailVerified, @linkedAt, NULL)`,
        )
        .run({
          id: ulid(),
          identityId: identity.identityId,
          userId: identity.userId,
          provider: identity.provider,
          subject: identity.subject,
          displayName: identity.displayName,
          email: identity.email,
          emailVerified: toSqlBool(identity.emailVerified),
          linkedAt: identity.linkedAt,
        });
    } catch (error) {
      if (isUniqueViolation(error)) {
        return Result.err(new IdentityAlreadyLinkedError(input.provider, input.subject));
      }
      throw error;
    }
    return Result.ok(identity);
  }

  /** The identity, or `undefined`. */
  get(identityId: string): UserIdentity | undefined {
    const row = this.db
      .prepare<[string], IdentityRow>(`SELECT ${COLUMNS} FROM user_identities WHERE identity_id = ?`)
      .get(identityId);
    return row === undefined ? undefined : toIdentity(row);
  }

  /** The identity of (provider, subject), or `undefined`. */
  find(provider: string, subject: string): UserIdentity | undefined {
    const row = this.db
      .prepare<[string, string], IdentityRow>(
        `SELECT ${COLUMNS} FROM user_identities WHERE provider = ? AND subject = ?`,
      )
      .get(provider, subject);
    return row === undefined ? undefined : toIdentity(row);
  }

  /** The local identity with this username, or `undefined`. */
  findLocal(username: string): UserIdentity | undefined {
    return this.find(LOCAL_PROVIDER, username);
  }

  /** The local identity of an account, or `undefined`. */
  findLocalByUser(userId: string): UserIdentity | undefined {
    const row = this.db
      .prepare<[string, string], IdentityRow>(
        `SELECT ${COLUMNS} FROM user_identities WHERE user_id = ? AND provider = ?`,
      )
      .get(userId, LOCAL_PROVIDER);
    return row === undefined ? undefined : toIdentity(row);
  }

  /** All identities of an account, oldest link first. */
  listByUser(userId: string): UserIdentity[] {
    return this.db
      .prepare<[string], IdentityRow>(
        `SELECT ${COLUMNS} FROM user_identities WHERE user_id = ? ORDER BY linked_at, identity_id`,
      )
      .all(userId)
      .map(toIdentity);
  }

  /** Records a successful login. Returns `false` when the identity does not exist. */
  recordLogin(identityId: string, now: Date = this.clock()): boolean {
    return (
      this.db
        .prepare<[string, string]>("UPDATE user_identities SET last_login_at = ? WHERE identity_id = ?")
        .run(iso(now), identityId).changes > 0
    );
  }

  /** Updates the profile fields a provider reports. Returns `false` when the identity does not exist. */
  updateProfile(
    identityId: string,
    profile: { displayName?: string | null; email?: string | null; emailVerified?: boolean },
  ): boolean {
    return this.db.transaction((): boolean => {
      const current = this.get(identityId);
      if (current === undefined) return false;
      this.db
        .prepare(
          `UPDATE user_identities SET display_name = @displayName, email = @email, email_verified = @emailVerified
           WHERE identity_id = @identityId`,
        )
        .run({
          identityId,
          displayName: profile.displayName === undefined ? current.displayName : profile.displayName,
          email: profile.email === undefined ? current.email : profile.email,
          emailVerified: toSqlBool(profile.emailVerified ?? current.emailVerified),
        });
      return true;
    })();
  }

  /** Unlinks an identity (its local credentials go with it). Returns `false` when it did not exist. */
  unlink(identityId: string): boolean {
    return (
      this.db.prepare<[string]>("DELETE FROM user_identities WHERE identity_id = ?").run(identityId).changes >
      0
    );
  }
}
