/**
 * `capability_groups`: named sets of capabilities that may include other groups. The built-in,
 * read-only group `admin` lives in code; `get`/`list` report it, `put`/`delete` refuse it.
 */
import { Result } from "@trellis/result";
import { ulid } from "ulid";
import { type Clock, iso, parseJsonColumn, StringListSchema, sortedUnique, systemClock } from "./codec.js";
import type { SqliteDatabase } from "./database.js";
import { CapabilityGroupNotFoundError, CapabilityGroupReadOnlyError } from "./errors.js";

/** Key of the built-in administrators group (and of the platform `admin` capability). */
export const ADMIN_GROUP_KEY = "admin";

/** Capabilities of the built-in `admin` group (auth spec §1.4). */
export const ADMIN_GROUP_CAPABILITIES: readonly string[] = Object.freeze([
  "admin",
  "trellis.auth::device.review",
  "trellis.auth::events.auth",
  "trellis.jobs::admin.read",
  "trellis.jobs::admin.mutate",
  "trellis.jobs::admin.stream",
  "trellis.core::catalog.read",
  "trellis.core::contract.read",
]);

/** A capability group. */
export interface CapabilityGroup {
  groupKey: string;
  displayName: string;
  description: string;
  /** Capability keys (sorted, unique). */
  capabilities: string[];
  /** Keys of included groups (sorted, unique), resolved recursively. */
  includedGroups: string[];
  /** `true` for the code-defined read-only groups. */
  builtIn: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Input of {@link CapabilityGroupsRepository.put}. */
export interface PutCapabilityGroupInput {
  groupKey: string;
  displayName: string;
  description?: string;
  capabilities?: readonly string[];
  includedGroups?: readonly string[];
}

/** The built-in `admin` group. */
export const ADMIN_GROUP: Readonly<CapabilityGroup> = Object.freeze({
  groupKey: ADMIN_GROUP_KEY,
  displayName: "Administrators",
  description: "Built-in group: full administration of the Trellis deployment.",
  capabilities: sortedUnique(ADMIN_GROUP_CAPABILITIES),
  includedGroups: [],
  builtIn: true,
  createdAt: "1970-01-01T00:00:00.000Z",
  updatedAt: "1970-01-01T00:00:00.000Z",
});

function builtInGroup(groupKey: string): CapabilityGroup | undefined {
  return groupKey === ADMIN_GROUP_KEY
    ? { ...ADMIN_GROUP, capabilities: [...ADMIN_GROUP.capabilities], includedGroups: [] }
    : undefined;
}

interface GroupRow {
  group_key: string;
  display_name: string;
  description: string;
  capabilities: string;
  included_groups: string;
  created_at: string;
  updated_at: string;
}

const COLUMNS = "group_key, display_name, description, capabilities, included_groups, created_at, updated_at";

function toGroup(row: GroupRow): CapabilityGroup {
  return {
    groupKey: row.group_key,
    displayName: row.display_name,
    description: row.description,
    capabilities: parseJsonColumn(StringListSchema, row.capabilities, {
      table: "capability_groups",
      column: "capabilities",
    }),
    includedGroups: parseJsonColumn(StringListSchema, row.included_groups, {
      table: "capability_groups",
      column: "included_groups",
    }),
    builtIn: false,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Repository of `capability_groups` (plus the built-in `admin` group). */
export class CapabilityGroupsRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The group (built-in or stored), or `undefined`. */
  get(groupKey: string): CapabilityGroup | undefined {
    const builtIn = builtInGroup(groupKey);
    if (builtIn !== undefined) return builtIn;
    const row = this.db
      .prepare<[string], GroupRow>(`SELECT ${COLUMNS} FROM capability_groups WHERE group_key = ?`)
      .get(groupKey);
    return row === undefined ? undefined : toGroup(row);
  }

  /** Every group: the built-in ones first, then the stored ones by key. */
  list(): CapabilityGroup[] {
    const stored = this.db
      .prepare<[string], GroupRow>(
        `SELECT ${COLUMNS} FROM capability_groups WHERE group_key <> ? ORDER BY group_key`,
      )
      .all(ADMIN_GROUP_KEY)
      .map(toGroup);
    const admin = builtInGroup(ADMIN_GROUP_KEY);
    return admin === undefined ? stored : [admin, ...stored];
  }

  /** Creates or replaces a group; `Err(CapabilityGroupReadOnlyError)` for a built-in key. */
  put(
    input: PutCapabilityGroupInput,
    now: Date = this.clock(),
  ): Result<CapabilityGroup, CapabilityGroupReadOnlyError> {
    if (builtInGroup(input.groupKey) !== undefined) {
      return Result.err(new CapabilityGroupReadOnlyError(input.groupKey));
    }
    const at = iso(now);
    const capabilities = sortedUnique(input.capabilities ?? []);
    const includedGroups = sortedUnique(input.includedGroups ?? []);
    this.db
      .prepare(
        `INSERT INTO capability_groups (id, ${COLUMNS}) VALUES (@id, @groupKey, @displayName, @description,
           @capabilities, @includedGroups, @at, @at)
         ON CONFLICT (group_key) DO UPDATE SET display_name = excluded.display_name,
           description = excluded.description, capabilities = excluded.capabilities,
           included_groups = excluded.included_groups, updated_at = excluded.updated_at`,
      )
      .run({
        id: ulid(),
        groupKey: input.groupKey,
        displayName: input.displayName,
        description: input.description ?? "",
        capabilities: JSON.stringify(capabilities),
        includedGroups: JSON.stringify(includedGroups),
        at,
      });
    const stored = this.get(input.groupKey);
    if (stored === undefined)
      throw new Error(`capability group '${input.groupKey}' vanished after being written`);
    return Result.ok(stored);
  }

  /**
   * Deletes a stored group. `Err(CapabilityGroupReadOnlyError)` for a built-in key,
   * `Err(CapabilityGroupNotFoundError)` when it does not exist.
   */
  delete(groupKey: string): Result<void, CapabilityGroupReadOnlyError | CapabilityGroupNotFoundError> {
    if (builtInGroup(groupKey) !== undefined) return Result.err(new CapabilityGroupReadOnlyError(groupKey));
    const changes = this.db
      .prepare<[string]>("DELETE FROM capability_groups WHERE group_key = ?")
      .run(groupKey).changes;
    return changes > 0 ? Result.ok() : Result.err(new CapabilityGroupNotFoundError(groupKey));
  }
}
