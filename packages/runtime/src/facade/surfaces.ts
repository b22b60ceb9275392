/**
 * Finds the schemas that validate a surface: owned surfaces use the contract's own manifest, used
 * surfaces the manifest of the dependency that owns them.
 */
import type { AnyContractModule, ApiSurfaces } from "@trellis/contracts";
import { SchemaSet } from "../validation/schemas.js";

/** Schema sets per contract module, built once. */
export class SurfaceSchemas {
  private readonly sets = new Map<string, SchemaSet>();

  constructor(private readonly contract: AnyContractModule) {}

  private setOf(module: AnyContractModule): SchemaSet {
    let set = this.sets.get(module.CONTRACT_DIGEST);
    if (!set) {
      set = SchemaSet.of(module.CONTRACT);
      this.sets.set(module.CONTRACT_DIGEST, set);
    }
    return set;
  }

  /** The contract's own schema set. */
  get own(): SchemaSet {
    return this.setOf(this.contract);
  }

  /** The schema set for surface `key` of `kind` (owned first, then the dependency that owns it). */
  for(kind: keyof ApiSurfaces, key: string): SchemaSet {
    const owned: Record<string, unknown> = this.contract.API.owned[kind];
    if (key in owned) return this.own;
    for (const dependency of Object.values(this.contract.DEPENDENCIES ?? {})) {
      const surfaces: Record<string, unknown> = dependency.API.owned[kind];
      if (key in surfaces) return this.setOf(dependency);
    }
    throw new Error(`Contract '${this.contract.CONTRACT_ID}' has no ${kind} surface '${key}'`);
  }
}
