/**
 * `users`: Trellis accounts (`usr_<ULID>`) with their direct capabilities and capability groups.
 */
import { Result } from "@trellis/result";
import { ulid } from "ulid";
import {
  type Clock,
  iso,
  isUniqueViolation,
  normalizePage,
  type Page,
  type PageRequest,
  parseJsonColumn,
  StringListSchema,
  sortedUnique,
  systemClock,
  toPage,
  toSqlBool,
} from "./codec.js";
import type { SqliteDatabase } from "./database.js";
import { UserAlreadyExistsError, UserNotFoundError } from "./errors.js";

/** A Trellis account. */
export interface User {
  userId: string;
  name: string;
  email: string | null;
  active: boolean;
  /** Direct capability keys (sorted, unique). */
  capabilities: string[];
  /** Capability group keys (sorted, unique). */
  capabilityGroups: string[];
  createdAt: string;
  updatedAt: string;
}

/** Input of {@link UsersRepository.create}. */
export interface CreateUserInput {
  /** Default: a fresh `usr_<ULID>`. */
  userId?: string;
  name: string;
  email?: string | null;
  /** Default `true`. */
  active?: boolean;
  capabilities?: readonly string[];
  capabilityGroups?: readonly string[];
}

/** Fields {@link UsersRepository.update} can change. */
export interface UserPatch {
  name?: string;
  email?: string | null;
  active?: boolean;
  capabilities?: readonly string[];
  capabilityGroups?: readonly string[];
}

/** Filter of {@link UsersRepository.list}. */
export interface UserListFilter {
  active?: boolean;
}

interface UserRow {
  user_id: string;
  name: string;
  email: string | null;
  active: number;
  capabilities: string;
  capability_groups: string;
  created_at: string;
  updated_at: string;
}

const COLUMNS = "user_id, name, email, active, capabilities, capability_groups, created_at, updated_at";

/** A fresh account id: `usr_<ULID>`. */
export function newUserId(): string {
  return `usr_${ulid()}`;
}

function toUser(row: UserRow): User {
  return {
    userId: row.user_id,
    name: row.name,
    email: row.email,
    active: row.active === 1,
    capabilities: parseJsonColumn(StringListSchema, row.capabilities, {
      table: "users",
      column: "capabilities",
    }),
    capabilityGroups: parseJsonColumn(StringListSchema, row.capability_groups, {
      table: "users",
      column: "capability_groups",
    }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Repository of `users`. */
export class UsersRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Creates an account; `Err(UserAlreadyExistsError)` when the user id is taken. */
  create(input: CreateUserInput, now: Date = this.clock()): Result<User, UserAlreadyExistsError> {
    const at = iso(now);
    const user: User = {
      userId: input.userId ?? newUserId(),
      name: input.name,
      email: input.email ?? null,
      active: input.active ?? true,
      capabilities: sortedUnique(input.capabilities ?? []),
      capabilityGroups: sortedUnique(input.capabilityGroups ?? []),
      createdAt: at,
      updatedAt: at,
    };
    try {
      this.db
        .prepare(
          `INSERT INTO users (id, ${COLUMNS}) VALUES
           (@id, @userId, @name, @email, @active, @capabilities, @capabilityGroups, @createdAt, @updatedAt)`,
        )
        .run({
          id: ulid(),
          userId: user.userId,
          name: user.name,
          email: user.email,
          active: toSqlBool(user.active),
          capabilities: JSON.stringify(user.capabilities),
          capabilityGroups: JSON.stringify(user.capabilityGroups),
          createdAt: user.createdAt,
          updatedAt: user.updatedAt,
        });
    } catch (error) {
      if (isUniqueViolation(error)) return Result.err(new UserAlreadyExistsError(user.userId));
      throw error;
    }
    return Result.ok(user);
  }

  /** The account, or `undefined`. */
  get(userId: string): User | undefined {
    const row = this.db
      .prepare<[string], UserRow>(`SELECT ${COLUMNS} FROM users WHERE user_id = ?`)
      .get(userId);
    return row === undefined ? undefined : toUser(row);
  }

  /** The oldest account with this email (case-insensitive), or `undefined`. Emails are not unique. */
  getByEmail(email: string): User | undefined {
    const row = this.db
      .prepare<[string], UserRow>(
        `SELECT ${COLUMNS} FROM users WHERE email = ? COLLATE NOCASE ORDER BY created_at, user_id LIMIT 1`,
      )
      .get(email);
    return row === undefined ? undefined : toUser(row);
  }

  /** One page of accounts, oldest first. */
  list(page: PageRequest = {}, filter: UserListFilter = {}): Page<User> {
    const { offset, limit } = normalizePage(page);
    const where = filter.active === undefined ? "" : "WHERE active = @active";
    const params = filter.active === undefined ? {} : { active: toSqlBool(filter.active) };
    const count =
      this.db.prepare<object, { n: number }>(`SELECT COUNT(*) AS n FROM users ${where}`).get(params)?.n ?? 0;
    const rows = this.db
      .prepare<object, UserRow>(
        `SELECT ${COLUMNS} FROM users ${where} ORDER BY created_at, user_id LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit, offset });
    return toPage(rows.map(toUser), count, offset, limit);
  }

  /** Every active account (for checks such as "is there an active admin"). */
  listActive(): User[] {
    return this.db
      .prepare<[], UserRow>(`SELECT ${COLUMNS} FROM users WHERE active = 1 ORDER BY created_at, user_id`)
      .all()
      .map(toUser);
  }

  /** Applies `patch`; `Err(UserNotFoundError)` when the account does not exist. */
  update(userId: string, patch: UserPatch, now: Date = this.clock()): Result<User, UserNotFoundError> {
    return this.db.transaction((): Result<User, UserNotFoundError> => {
      const current = this.get(userId);
      if (current === undefined) return Result.err(new UserNotFoundError(userId));
      const next: User = {
        ...current,
        name: patch.name ?? current.name,
        email: patch.email === undefined ? current.email : patch.email,
        active: patch.active ?? current.active,
        capabilities:
          patch.capabilities === undefined ? current.capabilities : sortedUnique(patch.capabilities),
        capabilityGroups:
          patch.capabilityGroups === undefined
            ? current.capabilityGroups
            : sortedUnique(patch.capabilityGroups),
        updatedAt: iso(now),
      };
      this.db
        .prepare(
          `UPDATE users SET name = @name, email = @email, active = @active, capabilities = @capabilities,
             capability_groups = @capabilityGroups, updated_at = @updatedAt WHERE user_id = @userId`,
        )
        .run({
          userId,
          name: next.name,
          email: next.email,
          active: toSqlBool(next.active),
          capabilities: JSON.stringify(next.capabilities),
          capabilityGroups: JSON.stringify(next.capabilityGroups),
          updatedAt: next.updatedAt,
        });
      return Result.ok(next);
    })();
  }

  /** Activates or deactivates an account. */
  setActive(userId: string, active: boolean, now: Date = this.clock()): Result<User, UserNotFoundError> {
    return this.update(userId, { active }, now);
  }
}
