import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ADMIN_GROUP_CAPABILITIES, type CapabilityGroup } from "../store/capability-groups-repository.js";
import { type ControlPlaneStore, openStore } from "../store/store.js";
import {
  activeAdminIds,
  assertNotLastAdmin,
  deleteCapabilityGroup,
  isAdmin,
  putCapabilityGroup,
  resolveUserCapabilities,
  setUserActive,
  updateUser,
} from "./capabilities.js";

function group(groupKey: string, capabilities: string[], includedGroups: string[] = []): CapabilityGroup {
  return {
    groupKey,
    displayName: groupKey,
    description: "",
    capabilities,
    includedGroups,
    builtIn: false,
    createdAt: "",
    updatedAt: "",
  };
}

const ADMIN_SET = [...ADMIN_GROUP_CAPABILITIES].sort();

describe("resolveUserCapabilities", () => {
  it("unions direct capabilities and groups resolved recursively, surviving cycles", () => {
    const groups = [
      group("a", ["cap.a"], ["b"]),
      group("b", ["cap.b"], ["c", "missing"]),
      group("c", ["cap.c", "cap.a"], ["a"]),
      group("unrelated", ["cap.z"]),
    ];
    expect(resolveUserCapabilities({ capabilities: ["direct"], capabilityGroups: ["a"] }, groups)).toEqual([
      "cap.a",
      "cap.b",
      "cap.c",
      "direct",
    ]);
    expect(
      resolveUserCapabilities(
        { capabilities: [], capabilityGroups: ["c"] },
        new Map(groups.map((g) => [g.groupKey, g])),
      ),
    ).toEqual(["cap.a", "cap.b", "cap.c"]);
    expect(resolveUserCapabilities({ capabilities: [], capabilityGroups: [] }, groups)).toEqual([]);
  });

  it("expands the built-in admin group, whether held as a group, a capability or via another group", () => {
    expect(resolveUserCapabilities({ capabilities: [], capabilityGroups: ["admin"] }, [])).toEqual(ADMIN_SET);
    expect(resolveUserCapabilities({ capabilities: ["admin"], capabilityGroups: [] }, [])).toEqual(ADMIN_SET);
    expect(
      resolveUserCapabilities({ capabilities: ["x"], capabilityGroups: ["ops"] }, [
        group("ops", [], ["admin"]),
      ]),
    ).toEqual([...ADMIN_SET, "x"].sort());
    expect(
      resolveUserCapabilities({ capabilities: [], capabilityGroups: ["ops"] }, [group("ops", ["admin"])]),
    ).toEqual(ADMIN_SET);
    // A stored group named "admin" cannot change the built-in one.
    expect(
      resolveUserCapabilities({ capabilities: [], capabilityGroups: ["admin"] }, [group("admin", ["evil"])]),
    ).toEqual(ADMIN_SET);
    expect(ADMIN_SET).toEqual([
      "admin",
      "trellis.auth::device.review",
      "trellis.auth::events.auth",
      "trellis.core::catalog.read",
      "trellis.core::contract.read",
      "trellis.jobs::admin.mutate",
      "trellis.jobs::admin.read",
      "trellis.jobs::admin.stream",
    ]);
    expect(isAdmin({ capabilities: ["trellis.jobs::admin.read"], capabilityGroups: [] }, [])).toBe(false);
  });
});

describe("last admin protection", () => {
  let dir: string;
  let store: ControlPlaneStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "trellis-caps-"));
    store = openStore(join(dir, "trellis.sqlite"));
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses to deactivate or demote the last active admin", () => {
    const root = store.users.create({ name: "root", capabilityGroups: ["admin"] }).unwrap();
    const user = store.users.create({ name: "user" }).unwrap();
    expect(activeAdminIds(store)).toEqual([root.userId]);

    expect(setUserActive(store, root.userId, false).take()).toMatchObject({ reason: "last_admin_required" });
    expect(updateUser(store, root.userId, { capabilityGroups: [] }).take()).toMatchObject({
      reason: "last_admin_required",
    });
    expect(assertNotLastAdmin(store, root.userId, { capabilities: ["other"] }).ok).toBe(true);
    expect(store.users.get(root.userId)?.active).toBe(true);
    // Changes that keep admin, or concern other users, pass.
    expect(updateUser(store, root.userId, { capabilities: ["admin"], capabilityGroups: [] }).ok).toBe(true);
    expect(setUserActive(store, user.userId, false).ok).toBe(true);
    expect(updateUser(store, "usr_missing", { active: false }).take()).toMatchObject({
      reason: "user_not_found",
    });

    // With a second active admin, the first may go.
    updateUser(store, user.userId, { active: true, capabilityGroups: ["admin"] }).unwrap();
    expect(setUserActive(store, root.userId, false).ok).toBe(true);
    expect(setUserActive(store, user.userId, false).take()).toMatchObject({ reason: "last_admin_required" });
  });

  it("refuses group changes that would remove admin from the last admin", () => {
    putCapabilityGroup(store, { groupKey: "ops", displayName: "Ops", includedGroups: ["admin"] }).unwrap();
    const root = store.users.create({ name: "root", capabilityGroups: ["ops"] }).unwrap();
    expect(activeAdminIds(store)).toEqual([root.userId]);
    expect(putCapabilityGroup(store, { groupKey: "ops", displayName: "Ops" }).take()).toMatchObject({
      reason: "last_admin_required",
    });
    expect(deleteCapabilityGroup(store, "ops").take()).toMatchObject({ reason: "last_admin_required" });
    expect(
      putCapabilityGroup(store, { groupKey: "ops", displayName: "Ops", capabilities: ["admin"] }).ok,
    ).toBe(true);
  });
});
