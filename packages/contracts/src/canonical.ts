/**
 * Canonical JSON (contracts spec §4): the byte-exact text every digest is computed over.
 *
 * Keys are sorted by UTF-16 code units (JavaScript's default sort), there is no whitespace, strings
 * and numbers are rendered as `JSON.stringify` renders them, and only pure JSON values are accepted.
 */
import { createHash } from "node:crypto";
import { BaseError } from "@trellis/result";

/** A pure JSON value: what canonical JSON can represent. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A value that is not pure JSON was given to canonicalization; `path` is a JSON Pointer to it. */
export class NonJsonValueError extends BaseError {
  /** JSON Pointer (`""` for the root) of the offending value. */
  readonly path: string;
  /** What kind of value was refused, e.g. `-0`, `NaN`, `undefined`, `function`, `cycle`. */
  readonly valueKind: string;

  constructor(path: string, valueKind: string, message: string) {
    super(message, { context: { path, valueKind } });
    this.path = path;
    this.valueKind = valueKind;
  }
}

/** Escapes one JSON Pointer reference token (`~` → `~0`, `/` → `~1`). */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

function describeNumber(value: number): string | undefined {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "Infinity";
  if (value === Number.NEGATIVE_INFINITY) return "-Infinity";
  if (Object.is(value, -0)) return "-0";
  return undefined;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Returns the JSON Pointer and kind of the first non-JSON value inside `value`, if any. */
function findNonJson(value: unknown, path: string, ancestors: Set<object>): NonJsonValueError | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number": {
      const bad = describeNumber(value);
      return bad === undefined
        ? undefined
        : new NonJsonValueError(path, bad, `Non-canonical number in manifest: ${bad} at '${path || "/"}'`);
    }
    case "undefined":
    case "function":
    case "symbol":
    case "bigint":
      return new NonJsonValueError(
        path,
        typeof value,
        `Contract must be a pure JSON value: ${typeof value} at '${path || "/"}'`,
      );
    case "object": {
      if (value === null) return undefined;
      if (ancestors.has(value)) {
        return new NonJsonValueError(
          path,
          "cycle",
          `Contract must be a pure JSON value: cycle at '${path || "/"}'`,
        );
      }
      if (!Array.isArray(value) && !isPlainObject(value)) {
        const kind = value.constructor?.name ?? "object";
        return new NonJsonValueError(
          path,
          kind,
          `Contract must be a pure JSON value: instance of ${kind} at '${path || "/"}'`,
        );
      }
      ancestors.add(value);
      try {
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            // Sparse arrays hold holes, which JSON cannot represent.
            if (!(i in value)) {
              return new NonJsonValueError(
                `${path}/${i}`,
                "undefined",
                `Contract must be a pure JSON value: hole at '${path}/${i}'`,
              );
            }
            const found = findNonJson(value[i], `${path}/${i}`, ancestors);
            if (found) return found;
          }
          return undefined;
        }
        for (const key of Object.getOwnPropertySymbols(value)) {
          return new NonJsonValueError(
            path,
            "symbol",
            `Contract must be a pure JSON value: symbol key ${String(key)} at '${path || "/"}'`,
          );
        }
        for (const [key, child] of Object.entries(value)) {
          const found = findNonJson(child, `${path}/${escapePointerToken(key)}`, ancestors);
          if (found) return found;
        }
        return undefined;
      } finally {
        ancestors.delete(value);
      }
    }
  }
}

/** Throws a {@link NonJsonValueError} naming the path of the first value that is not pure JSON. */
export function assertJsonValue(value: unknown): asserts value is JsonValue {
  const found = findNonJson(value, "", new Set());
  if (found) throw found;
}

/** True when `value` is pure JSON (no -0, NaN, ±Infinity, undefined, functions, symbols, cycles or class instances). */
export function isJsonValue(value: unknown): value is JsonValue {
  return findNonJson(value, "", new Set()) === undefined;
}

function writeCanonical(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(writeCanonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${writeCanonical(value[key] as JsonValue)}`).join(",")}}`;
}

/** Renders `value` as canonical JSON text; throws {@link NonJsonValueError} for non-JSON input. */
export function canonicalizeJson(value: unknown): string {
  assertJsonValue(value);
  return writeCanonical(value);
}

/** SHA-256 of `bytes`, base64url without padding (43 characters). */
export function sha256Base64Url(bytes: string | Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url");
}

/** Digest of a JSON value: base64url(sha256(utf8(canonicalizeJson(value)))) without padding. */
export function digestJson(value: unknown): string {
  return sha256Base64Url(canonicalizeJson(value));
}
