import { describe, expect, it } from "vitest";
import {
  ADMIN_CAPABILITY,
  assertLocalCapabilityName,
  contractCapabilityNamespace,
  forbiddenLocalCapabilityPrefixes,
  globalCapabilityName,
  holdsAllCapabilities,
  isGlobalCapabilityReference,
  projectCapabilityList,
  projectCapabilityReference,
  SERVICE_CAPABILITY,
} from "./capabilities.js";
import { ContractDefinitionError } from "./problems.js";

describe("capability namespaces (§16.6)", () => {
  it("strips the trailing @vN from the contract id", () => {
    expect(contractCapabilityNamespace("users@v1")).toBe("users");
    expect(contractCapabilityNamespace("trellis.core@v12")).toBe("trellis.core");
    expect(contractCapabilityNamespace("plain")).toBe("plain");
    expect(contractCapabilityNamespace("odd@v1.x")).toBe("odd@v1.x");
  });

  it("builds global names that survive a major version bump", () => {
    expect(globalCapabilityName("users@v1", "users.read")).toBe("users::users.read");
    expect(globalCapabilityName("users@v2", "users.read")).toBe(
      globalCapabilityName("users@v1", "users.read"),
    );
  });

  it("forbids the namespace and, for dotted namespaces, its last segment as local prefixes", () => {
    expect(forbiddenLocalCapabilityPrefixes("trellis.core@v1")).toEqual(["trellis.core.", "core."]);
    expect(forbiddenLocalCapabilityPrefixes("users@v1")).toEqual(["users."]);
  });

  it("refuses namespace-prefixed local names", () => {
    const namespaced = () => assertLocalCapabilityName("trellis.core@v1", "trellis.core.read");
    expect(namespaced).toThrow(ContractDefinitionError);
    expect(namespaced).toThrow(
      "local capability 'trellis.core.read' must not start with contract namespace prefix 'trellis.core.'",
    );
    expect(() => assertLocalCapabilityName("trellis.core@v1", "core.read")).toThrow(
      "local capability 'core.read' must not start with contract namespace prefix 'core.'",
    );
    expect(() => assertLocalCapabilityName("users@v1", "users.read")).toThrow(ContractDefinitionError);
    expect(() => assertLocalCapabilityName("trellis.core@v1", "catalog.read")).not.toThrow();
    expect(() => assertLocalCapabilityName("trellis.core@v1", "corexread")).not.toThrow();
  });
});

describe("capability reference projection (§16.6)", () => {
  const declared = new Set(["users.read", "users.write"]);

  it("maps declared local names to global keys", () => {
    expect(
      projectCapabilityReference("users@v1", declared, "users.read", "rpc 'Users.Get' call capabilities"),
    ).toBe("users::users.read");
  });

  it("passes admin, service and qualified names through", () => {
    expect(ADMIN_CAPABILITY).toBe("admin");
    expect(SERVICE_CAPABILITY).toBe("service");
    for (const ref of ["admin", "service", "billing::invoices.read", "*::*"]) {
      expect(isGlobalCapabilityReference(ref)).toBe(true);
      expect(projectCapabilityReference("users@v1", declared, ref, "ctx")).toBe(ref);
    }
  });

  it.each([
    ["rpc 'Users.Get' call capabilities"],
    ["operation 'Users.Import' observe capabilities"],
    ["event 'Users.Changed' publish capabilities"],
    ["feed 'Users.Live' subscribe capabilities"],
  ])("throws for undeclared local names in %s", (context) => {
    const project = () => projectCapabilityReference("users@v1", declared, "users.delete", context);
    expect(project).toThrow(ContractDefinitionError);
    expect(project).toThrow(`${context} references undeclared local capability 'users.delete'`);
  });

  it("sorts and deduplicates projected lists", () => {
    expect(
      projectCapabilityList(
        "users@v1",
        declared,
        ["users.write", "admin", "users.read", "users::users.read", "users.write"],
        "ctx",
      ),
    ).toEqual(["admin", "users::users.read", "users::users.write"]);
    expect(projectCapabilityList("users@v1", declared, [], "ctx")).toEqual([]);
  });
});

describe("holdsAllCapabilities", () => {
  it("is an all-of check where an empty list needs nothing", () => {
    const held = new Set(["a", "b"]);
    expect(holdsAllCapabilities(held, [])).toBe(true);
    expect(holdsAllCapabilities(new Set(), [])).toBe(true);
    expect(holdsAllCapabilities(held, ["a", "b"])).toBe(true);
    expect(holdsAllCapabilities(held, ["a", "c"])).toBe(false);
  });
});
