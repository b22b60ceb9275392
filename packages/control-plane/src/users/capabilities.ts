/**
 * Effective capabilities of users (direct capabilities ∪ capability groups, resolved recursively and
 * cycle-safe, with the built-in `admin` group) and the "at least one active admin" invariant.
 */
import { Result } from "@trellis/result";
import {
  ADMIN_GROUP_CAPABILITIES,
  ADMIN_GROUP_KEY,
  type CapabilityGroup,
  type PutCapabilityGroupInput,
} from "../store/capability-groups-repository.js";
import { sortedUnique } from "../store/codec.js";
import type {
  CapabilityGroupNotFoundError,
  CapabilityGroupReadOnlyError,
  UserNotFoundError,
} from "../store/errors.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { User, UserPatch } from "../store/users-repository.js";
import { LastAdminRequiredError } from "./errors.js";

/** The platform administrator capability. */
export const ADMIN_CAPABILITY = "admin";

/** The fields of a user that decide its capabilities. */
export type CapabilityHolder = Pick<User, "capabilities" | "capabilityGroups">;

/** Capability groups to resolve against: a list or a map by group key. */
export type CapabilityGroupSource = Iterable<CapabilityGroup> | ReadonlyMap<string, CapabilityGroup>;

function isGroupMap(groups: CapabilityGroupSource): groups is ReadonlyMap<string, CapabilityGroup> {
  return groups instanceof Map;
}

function groupMap(groups: CapabilityGroupSource): ReadonlyMap<string, CapabilityGroup> {
  if (isGroupMap(groups)) return groups;
  const map = new Map<string, CapabilityGroup>();
  for (const group of groups) map.set(group.groupKey, group);
  return map;
}

/**
 * The effective capability keys of a user (sorted, unique): its direct capabilities plus those of its
 * groups, following `includedGroups` recursively (each group at most once, so cycles end). The `admin`
 * group always means the built-in one (a stored group with that key is ignored), and holding the
 * `admin` capability — directly or through any group — also grants the whole `admin` group.
 * Unknown group keys contribute nothing.
 */
export function resolveUserCapabilities(user: CapabilityHolder, groups: CapabilityGroupSource): string[] {
  const byKey = groupMap(groups);
  const capabilities = new Set<string>();
  const visited = new Set<string>();
  const pending: string[] = [...user.capabilityGroups];

  const grant = (capability: string) => {
    capabilities.add(capability);
    if (capability === ADMIN_CAPABILITY && !visited.has(ADMIN_GROUP_KEY)) pending.push(ADMIN_GROUP_KEY);
  };

  for (const capability of user.capabilities) grant(capability);
  for (let key = pending.pop(); key !== undefined; key = pending.pop()) {
    if (visited.has(key)) continue;
    visited.add(key);
    if (key === ADMIN_GROUP_KEY) {
      for (const capability of ADMIN_GROUP_CAPABILITIES) grant(capability);
      continue;
    }
    const group = byKey.get(key);
    if (group === undefined) continue;
    for (const capability of group.capabilities) grant(capability);
    for (const included of group.includedGroups) if (!visited.has(included)) pending.push(included);
  }
  return sortedUnique(capabilities);
}

/** `true` when the user's effective capabilities include `admin` (activity not considered). */
export function isAdmin(user: CapabilityHolder, groups: CapabilityGroupSource): boolean {
  return resolveUserCapabilities(user, groups).includes(ADMIN_CAPABILITY);
}

/** Effective capabilities of a stored user, resolved against the stored groups. */
export function userCapabilities(store: ControlPlaneStore, user: CapabilityHolder): string[] {
  return resolveUserCapabilities(user, store.capabilityGroups.list());
}

/** Ids of the active users that are administrators. */
export function activeAdminIds(store: ControlPlaneStore): string[] {
  const groups = groupMap(store.capabilityGroups.list());
  return store.users
    .listActive()
    .filter((user) => isAdmin(user, groups))
    .map((user) => user.userId);
}

function countActiveAdmins(users: readonly User[], groups: ReadonlyMap<string, CapabilityGroup>): number {
  return users.filter((user) => user.active && isAdmin(user, groups)).length;
}

/**
 * Refuses a change to a user (deactivation, capability or group changes) that would leave no active
 * administrator: `Err(LastAdminRequiredError)` (`last_admin_required`). Changes are fine when there
 * is no active admin to begin with (bootstrap) or another one remains. An unknown user passes (the
 * update itself reports it).
 */
export function assertNotLastAdmin(
  store: ControlPlaneStore,
  userId: string,
  patch: Pick<UserPatch, "active" | "capabilities" | "capabilityGroups">,
): Result<void, LastAdminRequiredError> {
  const groups = groupMap(store.capabilityGroups.list());
  const users = store.users.listActive();
  const current = users.find((user) => user.userId === userId);
  if (current === undefined || !isAdmin(current, groups)) return Result.ok();
  const next: User = {
    ...current,
    active: patch.active ?? current.active,
    capabilities: patch.capabilities === undefined ? current.capabilities : [...patch.capabilities],
    capabilityGroups:
      patch.capabilityGroups === undefined ? current.capabilityGroups : [...patch.capabilityGroups],
  };
  const after = users.map((user) => (user.userId === userId ? next : user));
  return countActiveAdmins(after, groups) === 0
    ? Result.err(
        new LastAdminRequiredError(
          `Demoting or deactivating user '${userId}' would leave no active administrator`,
        ),
      )
    : Result.ok();
}

/**
 * Refuses a capability group change (`group` = new definition, `null` = deletion) that would leave no
 * active administrator (e.g. removing `admin` from the group the last admin relies on).
 */
export function assertGroupChangeKeepsAdmin(
  store: ControlPlaneStore,
  groupKey: string,
  group: PutCapabilityGroupInput | null,
): Result<void, LastAdminRequiredError> {
  const before = groupMap(store.capabilityGroups.list());
  const users = store.users.listActive();
  if (countActiveAdmins(users, before) === 0) return Result.ok();
  const after = new Map(before);
  if (group === null) after.delete(groupKey);
  else {
    after.set(groupKey, {
      groupKey,
      displayName: group.displayName,
      description: group.description ?? "",
      capabilities: [...(group.capabilities ?? [])],
      includedGroups: [...(group.includedGroups ?? [])],
      builtIn: false,
      createdAt: "",
      updatedAt: "",
    });
  }
  return countActiveAdmins(users, after) === 0
    ? Result.err(
        new LastAdminRequiredError(
          `Changing capability group '${groupKey}' would leave no active administrator`,
        ),
      )
    : Result.ok();
}

/** Updates a user, refusing changes that would leave no active admin (check and write in one transaction). */
export function updateUser(
  store: ControlPlaneStore,
  userId: string,
  patch: UserPatch,
  now: Date = store.clock(),
): Result<User, UserNotFoundError | LastAdminRequiredError> {
  return store.transaction((): Result<User, UserNotFoundError | LastAdminRequiredError> => {
    const guard = assertNotLastAdmin(store, userId, patch);
    if (!guard.ok) return Result.err(guard.error);
    return store.users.update(userId, patch, now);
  });
}

/** Activates or deactivates a user, refusing to deactivate the last active admin. */
export function setUserActive(
  store: ControlPlaneStore,
  userId: string,
  active: boolean,
  now: Date = store.clock(),
): Result<User, UserNotFoundError | LastAdminRequiredError> {
  return updateUser(store, userId, { active }, now);
}

/** Creates or replaces a capability group, refusing changes that would leave no active admin. */
export function putCapabilityGroup(
  store: ControlPlaneStore,
  group: PutCapabilityGroupInput,
  now: Date = store.clock(),
): Result<CapabilityGroup, CapabilityGroupReadOnlyError | LastAdminRequiredError> {
  return store.transaction(
    (): Result<CapabilityGroup, CapabilityGroupReadOnlyError | LastAdminRequiredError> => {
      const guard = assertGroupChangeKeepsAdmin(store, group.groupKey, group);
      if (!guard.ok) return Result.err(guard.error);
      return store.capabilityGroups.put(group, now);
    },
  );
}

/** Deletes a capability group, refusing deletions that would leave no active admin. */
export function deleteCapabilityGroup(
  store: ControlPlaneStore,
  groupKey: string,
): Result<void, CapabilityGroupReadOnlyError | CapabilityGroupNotFoundError | LastAdminRequiredError> {
  return store.transaction(
    (): Result<
      void,
      CapabilityGroupReadOnlyError | CapabilityGroupNotFoundError | LastAdminRequiredError
    > => {
      const guard = assertGroupChangeKeepsAdmin(store, groupKey, null);
      if (!guard.ok) return Result.err(guard.error);
      return store.capabilityGroups.delete(groupKey);
    },
  );
}
