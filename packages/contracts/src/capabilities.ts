/**
 * Capability names (contracts spec §8.1): contracts declare local capability names, which are
 * projected to global `<namespace>::<local>` keys. The namespace is the contract id without its
 * `@vN` major version, so grants survive major bumps.
 */
import { sortedUnique } from "./normalize.js";
import { ContractDefinitionError } from "./problems.js";

/** Platform capability held by administrators. */
export const ADMIN_CAPABILITY = "admin";

/** Platform capability held by service principals only. */
export const SERVICE_CAPABILITY = "service";

/** Separator between a capability's namespace and its local name. */
export const CAPABILITY_NAMESPACE_SEPARATOR = "::";

/** The capability namespace of a contract: its id without the trailing `@vN` (`trellis.core@v1` → `trellis.core`). */
export function contractCapabilityNamespace(contractId: string): string {
  return contractId.replace(/@v\d+$/, "");
}

/** The global key of a local capability: `<namespace>::<local>`. */
export function globalCapabilityName(contractId: string, local: string): string {
  return `${contractCapabilityNamespace(contractId)}${CAPABILITY_NAMESPACE_SEPARATOR}${local}`;
}

/**
 * Prefixes a local capability name must not start with: `<namespace>.`, plus `<last namespace segment>.`
 * when the namespace is dotted (`trellis.core@v1` → `trellis.core.` and `core.`).
 */
export function forbiddenLocalCapabilityPrefixes(contractId: string): string[] {
  const namespace = contractCapabilityNamespace(contractId);
  const prefixes = [`${namespace}.`];
  const lastDot = namespace.lastIndexOf(".");
  if (lastDot !== -1) prefixes.push(`${namespace.slice(lastDot + 1)}.`);
  return prefixes;
}

/**
 * Throws {@link ContractDefinitionError} when a local capability name repeats the contract namespace:
 * "local capability 'X' must not start with contract namespace prefix 'P'".
 */
export function assertLocalCapabilityName(contractId: string, local: string): void {
  for (const prefix of forbiddenLocalCapabilityPrefixes(contractId)) {
    if (local.startsWith(prefix)) {
      throw new ContractDefinitionError(
        `local capability '${local}' must not start with contract namespace prefix '${prefix}'`,
        { context: { contractId, capability: local, prefix } },
      );
    }
  }
}

/** True for references that are already global: `admin`, `service` and anything containing `::`. */
export function isGlobalCapabilityReference(ref: string): boolean {
  return (
    ref === ADMIN_CAPABILITY || ref === SERVICE_CAPABILITY || ref.includes(CAPABILITY_NAMESPACE_SEPARATOR)
  );
}

/**
 * Maps one capability reference of a surface to its global key: a declared local name becomes
 * `<namespace>::<local>`; `admin`, `service` and `x::y` pass through unchanged; anything else throws
 * {@link ContractDefinitionError} "<context> references undeclared local capability 'X'", where
 * `context` reads like `rpc 'Orders.Get' call capabilities`.
 */
export function projectCapabilityReference(
  contractId: string,
  declaredLocal: ReadonlySet<string>,
  ref: string,
  context: string,
): string {
  if (declaredLocal.has(ref)) return globalCapabilityName(contractId, ref);
  if (isGlobalCapabilityReference(ref)) return ref;
  throw new ContractDefinitionError(`${context} references undeclared local capability '${ref}'`, {
    context: { contractId, capability: ref, surface: context },
  });
}

/** Projects every reference of a capability list (see {@link projectCapabilityReference}); sorted and deduplicated. */
export function projectCapabilityList(
  contractId: string,
  declaredLocal: ReadonlySet<string>,
  refs: readonly string[],
  context: string,
): string[] {
  return sortedUnique(refs.map((ref) => projectCapabilityReference(contractId, declaredLocal, ref, context)));
}

/** True when every capability of `required` is in `held` (an empty list needs nothing): lists are all-of. */
export function holdsAllCapabilities(held: ReadonlySet<string>, required: readonly string[]): boolean {
  return required.every((capability) => held.has(capability));
}
