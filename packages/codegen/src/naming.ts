/** Names of generated things (contracts spec §11, §12). */

/** Default npm scope of generated SDK packages. */
export const DEFAULT_PACKAGE_PREFIX = "@trellis-sdk/";

/** The lineage of an id: `example.orders@v1` → `example.orders`. */
export function lineageOf(contractId: string): string {
  const at = contractId.lastIndexOf("@");
  return at < 0 ? contractId : contractId.slice(0, at);
}

/** The npm package name of a contract's SDK: prefix + lineage with `.` → `-`. */
export function sdkPackageName(contractId: string, prefix = DEFAULT_PACKAGE_PREFIX): string {
  return `${prefix}${lineageOf(contractId).replaceAll(".", "-")}`;
}

/** The folder stem of a contract's SDK: lineage with `.` → `-`, without a leading `trellis-`. */
export function sdkStem(contractId: string): string {
  const stem = lineageOf(contractId).replaceAll(".", "-");
  return stem.startsWith("trellis-") && stem !== "trellis-core" ? stem.slice("trellis-".length) : stem;
}

/**
 * `keyToPascal`: split on `.`, then on anything not alphanumeric, uppercase each piece's first
 * character and join. `Jobs.DismissDLQ` → `JobsDismissDLQ`.
 */
export function keyToPascal(key: string): string {
  return key
    .split(".")
    .flatMap((part) => part.split(/[^A-Za-z0-9]+/))
    .filter((piece) => piece.length > 0)
    .map((piece) => piece.charAt(0).toUpperCase() + piece.slice(1))
    .join("");
}

/** A valid identifier from a Pascal name (a leading digit gets an underscore). */
export function identifier(name: string): string {
  const clean = name.length > 0 ? name : "Unnamed";
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}

/** Hands out unique names: the first asker gets `name`, later ones `name2`, `name3`, … */
export class NameAllocator {
  private readonly taken = new Set<string>();

  /** Marks names as taken without allocating them. */
  reserve(...names: string[]): void {
    for (const name of names) this.taken.add(name);
  }

  /** Whether a name is taken. */
  has(name: string): boolean {
    return this.taken.has(name);
  }

  /** A unique name based on `name`. */
  allocate(name: string): string {
    let candidate = name;
    for (let n = 2; this.taken.has(candidate); n++) candidate = `${name}${n}`;
    this.taken.add(candidate);
    return candidate;
  }
}
