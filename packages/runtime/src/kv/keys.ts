/**
 * KV key escaping (runtime spec §5.1). A key becomes the last part of the `$KV.<bucket>.<key>` subject,
 * so characters that would break a subject token are escaped; `.` is kept and forms a hierarchy.
 *
 * - NUL, whitespace, `*`, `>` and `~` become `~HEX~` (the uppercase hex code point), e.g. `a b` → `a~20~b`;
 * - a key that is empty or starts with `$` gets a `_` prefix, e.g. `$x` → `_$x`.
 *
 * Escaping is not idempotent (`~` is escaped again), so always escape the caller's own key, never an
 * already-stored one. {@link unescapeKvKey} reverses it for every key except `""` and `"_"`, which
 * share the stored form `_`.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL must be escaped, as the spec requires.
const ESCAPED_CHARS = /[\u0000\s*>~]/gu;

function escapeChars(value: string): string {
  return value.replace(ESCAPED_CHARS, (char) => `~${char.codePointAt(0)?.toString(16).toUpperCase()}~`);
}

/** The stored form of a KV key (§5.1). */
export function escapeKvKey(key: string): string {
  const escaped = escapeChars(key);
  return escaped === "" || escaped.startsWith("$") ? `_${escaped}` : escaped;
}

/** The caller's key of a stored key: reverses {@link escapeKvKey} (`_` is read back as `_`). */
export function unescapeKvKey(stored: string): string {
  const unprefixed = stored.startsWith("_$") ? stored.slice(1) : stored;
  return unprefixed.replace(/~([0-9A-F]{1,6})~/g, (_match, hex: string) =>
    String.fromCodePoint(Number.parseInt(hex, 16)),
  );
}

/**
 * Why a stored key cannot be used, or `undefined` when it can: it must be a valid subject tail, with no
 * empty token (no leading, trailing or doubled `.`), no whitespace, and no `*` or `>` token.
 */
export function invalidStoredKeyReason(stored: string): string | undefined {
  if (stored.length === 0) return "the key is empty";
  if (/\s/u.test(stored)) return "the key contains whitespace";
  for (const token of stored.split(".")) {
    if (token === "") return "the key has an empty '.'-separated segment";
    if (token === "*" || token === ">") return "the key contains a wildcard segment";
  }
  return undefined;
}

/**
 * Why a key filter (as given to `keys()` or `watch()`) cannot be used, or `undefined`: like a stored
 * key, except that `*` segments and a final `>` segment are wildcards.
 */
export function invalidKeyFilterReason(filter: string): string | undefined {
  if (filter.length === 0) return "the filter is empty";
  if (/\s/u.test(filter)) return "the filter contains whitespace";
  const tokens = filter.split(".");
  for (const [index, token] of tokens.entries()) {
    if (token === "") return "the filter has an empty '.'-separated segment";
    if (token === ">" && index !== tokens.length - 1) return "'>' may only be the last segment";
  }
  return undefined;
}

/**
 * Escapes a key filter (as given to `keys()` or `watch()`) the way {@link escapeKvKey} escapes a key,
 * keeping whole `*` and `>` segments as wildcards: `users.*` matches the stored keys `users.<anything>`.
 */
export function escapeKvKeyFilter(filter: string): string {
  const escaped = filter
    .split(".")
    .map((segment) => (segment === "*" || segment === ">" ? segment : escapeChars(segment)))
    .join(".");
  return escaped === "" || escaped.startsWith("$") ? `_${escaped}` : escaped;
}
