/**
 * Service contracts for the deployment authority tests: one lineage in three digests (the first, an
 * additive change, a breaking change), a contract whose RPC subject collides with it, and one that
 * requires it.
 */
import { type ContractManifest, defineServiceContract, digestContractManifest } from "@trellis/contracts";
import { z } from "zod";

/**
 * Versions of `acme.billing@v1`: `v1`; `v2` adds an RPC (additive); `v2b` is `v2` with an optional
 * receipt field (additive, same surfaces); `v3` drops `Billing.Charge` (breaking).
 */
export type BillingVariant = "v1" | "v2" | "v2b" | "v3";

/** The `acme.billing@v1` module of a variant. */
export function billingModule(variant: BillingVariant) {
  const charge = {
    version: "v1" as const,
    input: { schema: "Charge" },
    output: { schema: "Receipt" },
    capabilities: { call: ["charge"] },
  };
  return defineServiceContract(
    {
      schemas: {
        Charge: z.object({ amount: z.number() }),
        Receipt:
          variant === "v2b"
            ? z.object({ id: z.string(), note: z.string().optional() })
            : z.object({ id: z.string() }),
        Cached: z.object({ value: z.string() }),
      },
    },
    (ref) => ({
      id: "acme.billing@v1",
      displayName: "Billing",
      description: "Charges and refunds.",
      capabilities: { charge: { displayName: "Charge", description: "Charge a customer." } },
      rpc: {
        ...(variant !== "v3" && {
          "Billing.Charge": { ...charge, input: ref.schema("Charge"), output: ref.schema("Receipt") },
        }),
        ...(variant !== "v1" && {
          "Billing.Refund": { ...charge, input: ref.schema("Charge"), output: ref.schema("Receipt") },
        }),
      },
      resources: { kv: { cache: { purpose: "Receipts cache", schema: ref.schema("Cached"), history: 2 } } },
    }),
  );
}

/** `acme.clash@v1`: declares `Billing.Charge` too, so its subject collides with billing's. */
export function clashModule() {
  return defineServiceContract({ schemas: { Any: z.object({}) } }, (ref) => ({
    id: "acme.clash@v1",
    displayName: "Clash",
    description: "Collides with billing.",
    rpc: { "Billing.Charge": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") } },
  }));
}

/** `acme.shop@v1`: requires billing's `Billing.Charge` (and optionally a contract nobody serves). */
export function shopModule() {
  const billing = billingModule("v1");
  const ghost = defineServiceContract({ schemas: { Any: z.object({}) } }, (ref) => ({
    id: "acme.ghost@v1",
    displayName: "Ghost",
    description: "Never deployed.",
    rpc: { "Ghost.Boo": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") } },
  }));
  return defineServiceContract({ schemas: { Any: z.object({}) } }, (ref) => ({
    id: "acme.shop@v1",
    displayName: "Shop",
    description: "Sells things.",
    uses: {
      required: { billing: billing.use({ rpc: { call: ["Billing.Charge"] } }) },
      optional: { ghost: ghost.use({ rpc: { call: ["Ghost.Boo"] } }) },
    },
    rpc: { "Shop.Buy": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") } },
  }));
}

/** A module's manifest and digest. */
export function presented(module: { CONTRACT: ContractManifest }): {
  manifest: ContractManifest;
  digest: string;
} {
  return { manifest: module.CONTRACT, digest: digestContractManifest(module.CONTRACT) };
}
