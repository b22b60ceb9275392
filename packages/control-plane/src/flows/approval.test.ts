import { trellisAuth } from "@trellis/builtin-contracts";
import { type ContractManifest, defineAgentContract, defineServiceContract } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { IdentityGrant } from "../store/identity-grants-repository.js";
import {
  decideUserContractApproval,
  grantCoversPlan,
  planUserContractApproval,
  type UserContractApprovalPlan,
} from "./approval.js";

const Order = z.object({ id: z.string() });
const orders = defineServiceContract({ schemas: { Order, Empty: z.object({}) } }, (ref) => ({
  id: "orders@v1",
  displayName: "Orders",
  description: "Orders.",
  capabilities: {
    read: { displayName: "Read orders", description: "See every order." },
    refund: {
      displayName: "Refund orders",
      description: "Refund money.",
      consequence: "Money leaves the account.",
    },
  },
  rpc: {
    "Orders.Get": {
      version: "v1",
      input: ref.schema("Order"),
      output: ref.schema("Order"),
      capabilities: { call: ["read"] },
    },
    "Orders.Export": {
      version: "v1",
      input: ref.schema("Empty"),
      output: ref.schema("Empty"),
      capabilities: { call: ["read"] },
      transfer: { direction: "receive" },
    },
  },
  operations: {
    "Orders.Refund": {
      version: "v1",
      input: ref.schema("Order"),
      output: ref.schema("Order"),
      capabilities: { call: ["refund"], observe: ["read"] },
    },
  },
  events: {
    "Orders.Changed": {
      version: "v1",
      params: ["/id"],
      event: ref.schema("Order"),
      capabilities: { subscribe: ["read"] },
    },
  },
  feeds: {
    "Orders.Live": {
      version: "v1",
      input: ref.schema("Empty"),
      event: ref.schema("Order"),
      capabilities: { subscribe: ["read"] },
    },
  },
}));

const cli = defineAgentContract({}, () => ({
  id: "orders-cli@v1",
  displayName: "Orders CLI",
  description: "Manages orders.",
  uses: {
    required: {
      orders: orders.use({
        rpc: { call: ["Orders.Export", "Orders.Get"] },
        operations: { call: ["Orders.Refund"] },
        events: { subscribe: ["Orders.Changed"] },
        feeds: { subscribe: ["Orders.Live"] },
      }),
    },
  },
}));

const known = new Map<string, ContractManifest>([
  [orders.CONTRACT_ID, orders.CONTRACT],
  [trellisAuth.CONTRACT_ID, trellisAuth.CONTRACT],
]);
const resolve = (id: string) => known.get(id);

function plan(): UserContractApprovalPlan {
  return planUserContractApproval(cli.CONTRACT, resolve).unwrap();
}

function grant(overrides: Partial<IdentityGrant> = {}): IdentityGrant {
  const p = plan();
  return {
    identityGrantId: "g",
    identityAuthorityId: "a",
    userId: "usr_1",
    origin: "local",
    externalId: "ada",
    anchor: { kind: "cli", contractId: "orders-cli@v1", sessionPublicKey: "k" },
    evidenceContractDigest: "old-digest",
    contractId: "orders-cli@v1",
    participantKind: "agent",
    answer: "approved",
    answeredAt: "2030-01-01T00:00:00.000Z",
    updatedAt: "2030-01-01T00:00:00.000Z",
    approval: p.approval,
    capabilities: Object.keys(p.approval.capabilities),
    publishSubjects: p.publishSubjects,
    subscribeSubjects: p.subscribeSubjects,
    ...overrides,
  };
}

describe("planUserContractApproval", () => {
  it("derives subjects and capabilities from the used surfaces", () => {
    const result = plan();
    expect(result.approval).toEqual({
      contractDigest: cli.CONTRACT_DIGEST,
      contractId: "orders-cli@v1",
      displayName: "Orders CLI",
      description: "Manages orders.",
      participantKind: "agent",
      capabilities: {
        "orders::read": { displayName: "Read orders", description: "See every order." },
        "orders::refund": {
          displayName: "Refund orders",
          description: "Refund money.",
          consequence: "Money leaves the account.",
        },
      },
    });
    expect(result.publishSubjects).toEqual([
      "feeds.v1.Orders.Live",
      "operations.v1.Orders.Refund",
      "operations.v1.Orders.Refund.control",
      "rpc.v1.Auth.Sessions.Logout",
      "rpc.v1.Auth.Sessions.Me",
      "rpc.v1.Orders.Export",
      "rpc.v1.Orders.Get",
      "transfer.v1.download.*.*",
    ]);
    expect(result.subscribeSubjects).toEqual(["events.v1.Orders.Changed.*"]);
  });

  it("accepts only valid app and agent contracts", () => {
    expect(planUserContractApproval(orders.CONTRACT, resolve).take()).toMatchObject({
      reason: "contract_kind_not_allowed",
    });
    expect(planUserContractApproval({ format: "trellis.contract.v1" }, resolve).take()).toMatchObject({
      reason: "invalid_manifest",
    });
  });

  it("fails on unresolved required uses and skips optional ones", () => {
    const unresolved = planUserContractApproval(cli.CONTRACT, (id) =>
      id === "orders@v1" ? undefined : resolve(id),
    );
    expect(unresolved.take()).toMatchObject({ reason: "contract_dependency_unresolved" });
    const optional: ContractManifest = {
      ...cli.CONTRACT,
      uses: { optional: { orders: { contract: "orders@v1", rpc: { call: ["Orders.Get"] } } } },
    };
    expect(planUserContractApproval(optional, () => undefined).unwrap().publishSubjects).toEqual([]);
  });

  it("falls back to the key when no contract describes a capability", () => {
    const bare: ContractManifest = {
      ...orders.CONTRACT,
      capabilities: {},
    };
    const result = planUserContractApproval(cli.CONTRACT, (id) => (id === "orders@v1" ? bare : resolve(id)));
    expect(result.unwrap().approval.capabilities["orders::read"]).toEqual({
      displayName: "orders::read",
      description: "Capability 'orders::read'.",
    });
  });
});

describe("decideUserContractApproval", () => {
  const all = ["orders::read", "orders::refund"];

  it("refuses inactive users before anything else", () => {
    expect(
      decideUserContractApproval({
        plan: plan(),
        user: { active: false },
        userCapabilities: all,
        storedGrant: grant(),
      }),
    ).toEqual({ status: "user_inactive" });
    expect(
      decideUserContractApproval({
        plan: plan(),
        user: undefined,
        userCapabilities: all,
        storedGrant: undefined,
      }),
    ).toEqual({ status: "user_inactive" });
  });

  it("reports missing capabilities", () => {
    expect(
      decideUserContractApproval({
        plan: plan(),
        user: { active: true },
        userCapabilities: ["orders::read", "zzz"],
        storedGrant: grant(),
      }),
    ).toEqual({
      status: "insufficient_capabilities",
      missingCapabilities: ["orders::refund"],
      userCapabilities: ["orders::read", "zzz"],
    });
  });

  it("reuses a stored grant only when it covers every capability and subject", () => {
    const decide = (storedGrant: IdentityGrant | undefined) =>
      decideUserContractApproval({ plan: plan(), user: { active: true }, userCapabilities: all, storedGrant })
        .status;
    expect(decide(grant())).toBe("approved");
    expect(decide(grant({ publishSubjects: ["rpc.v1.Orders.Get"] }))).toBe("approval_required");
    expect(decide(grant({ subscribeSubjects: [] }))).toBe("approval_required");
    expect(decide(grant({ capabilities: ["orders::read"] }))).toBe("approval_required");
    expect(decide(grant({ answer: "denied" }))).toBe("approval_required");
    expect(decide(undefined)).toBe("approval_required");
    expect(grantCoversPlan(grant({ publishSubjects: [...plan().publishSubjects, "extra.>"] }), plan())).toBe(
      true,
    );
  });
});
