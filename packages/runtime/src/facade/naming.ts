/**
 * Facade naming (contracts spec §11): `Orders.Get` → `orders.get`, `Trellis.Contract.Get` →
 * `trellis.contractGet`, `Jobs.DismissDLQ` → `jobs.dismissDLQ`; a single-segment key `Ping` → `ping`.
 */

type Join<S extends string> = S extends `${infer A}.${infer B}` ? `${A}${Join<B>}` : S;

/** The facade group of a logical name (its first segment, lowerCamel). */
export type FacadeGroup<K> = K extends `${infer G}.${string}` ? Uncapitalize<G> : never;
/** The facade leaf of a logical name (the other segments joined, lowerCamel). */
export type FacadeLeaf<K> = K extends `${string}.${infer R}` ? Uncapitalize<Join<R>> : never;
/** Logical names without a dot, exposed at the top level. */
type SingleSegment<K> = K extends `${string}.${string}` ? never : K;

/** Groups a map of logical names to values as `{ group: { leaf: value } }` plus top-level single-segment names. */
export type Grouped<V> = {
  [G in FacadeGroup<keyof V & string>]: {
    [K in keyof V & string as FacadeGroup<K> extends G ? FacadeLeaf<K> : never]: V[K];
  };
} & { [K in keyof V & string as Uncapitalize<SingleSegment<K>>]: V[K] };

function lowerFirst(value: string): string {
  return value.charAt(0).toLowerCase() + value.slice(1);
}

/** The `[group, leaf]` path of a logical name; a single segment has no group. */
export function facadePath(key: string): [group: string | undefined, leaf: string] {
  const [first, ...rest] = key.split(".");
  if (rest.length === 0) return [undefined, lowerFirst(first ?? key)];
  return [lowerFirst(first ?? ""), lowerFirst(rest.join(""))];
}

/** Builds `{ group: { leaf: make(key) } }` (and top-level leaves) for every key of `keys`. */
export function buildFacade<T>(keys: Iterable<string>, make: (key: string) => T): Record<string, unknown> {
  const facade: Record<string, unknown> = {};
  for (const key of keys) {
    const [group, leaf] = facadePath(key);
    if (group === undefined) {
      facade[leaf] = make(key);
      continue;
    }
    const bucket = (facade[group] ?? {}) as Record<string, unknown>;
    bucket[leaf] = make(key);
    facade[group] = bucket;
  }
  return facade;
}
