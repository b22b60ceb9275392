/**
 * Small helpers shared by the repositories: base64url/SHA-256, ISO timestamps, JSON columns, paging.
 */
import { createHash } from "node:crypto";
import type { JsonValue } from "@trellis/contracts";
import { z } from "zod";
import { StoreCorruptionError } from "./errors.js";

/** Returns the current time; injected so tests can move the clock. */
export type Clock = () => Date;

/** The wall clock. */
export const systemClock: Clock = () => new Date();

/** A JSON object (the shape of free-form JSON columns). */
export type JsonObject = { [key: string]: JsonValue };

/** base64url without padding. */
export function base64url(bytes: string | Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/** base64url(SHA-256(utf8(text))) without padding. */
export function sha256Base64url(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("base64url");
}

/** ISO-8601 UTC timestamp of a `Date`. */
export function iso(date: Date): string {
  return date.toISOString();
}

/** Normalizes an ISO timestamp (any parseable form) to `Date.prototype.toISOString` form. */
export function normalizeIso(value: string): string {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new RangeError(`'${value}' is not a timestamp`);
  return new Date(ms).toISOString();
}

/** SQLite integer boolean. */
export function toSqlBool(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

/** Sorted list without duplicates. */
export function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** A JSON list of strings. */
export const StringListSchema = z.array(z.string());

/** A JSON object with arbitrary JSON values. */
export const JsonObjectSchema = z.record(z.string(), z.json());

/** Parses a JSON column with `schema`; a bad value is a defect (`StoreCorruptionError`). */
export function parseJsonColumn<S extends z.ZodType>(
  schema: S,
  text: string,
  where: { table: string; column: string },
): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new StoreCorruptionError(`${where.table}.${where.column} does not hold JSON`, {
      cause,
      context: where,
    });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new StoreCorruptionError(`${where.table}.${where.column} has an unexpected shape`, {
      cause: parsed.error,
      context: { ...where, issues: z.prettifyError(parsed.error) },
    });
  }
  return parsed.data;
}

/** Checks a plain (non-JSON) column value with `schema`; a bad value is a defect (`StoreCorruptionError`). */
export function parseColumn<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: { table: string; column: string },
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new StoreCorruptionError(`${where.table}.${where.column} has an unexpected value`, {
      cause: parsed.error,
      context: where,
    });
  }
  return parsed.data;
}

/** Like `parseJsonColumn`, for a nullable column. */
export function parseNullableJsonColumn<S extends z.ZodType>(
  schema: S,
  text: string | null,
  where: { table: string; column: string },
): z.output<S> | null {
  return text === null ? null : parseJsonColumn(schema, text, where);
}

/** Paging request of the list RPCs (`limit` 0..500, default 100). */
export interface PageRequest {
  offset?: number;
  limit?: number;
}

/** Paging answer of the list RPCs; `nextOffset` is present when more entries follow. */
export interface Page<T> {
  entries: T[];
  count: number;
  offset: number;
  limit: number;
  nextOffset?: number;
}

/** Largest page the list RPCs accept. */
export const MAX_PAGE_LIMIT = 500;

/** Default page size. */
export const DEFAULT_PAGE_LIMIT = 100;

/** Clamps a page request to valid bounds. */
export function normalizePage(request: PageRequest = {}): { offset: number; limit: number } {
  const offset = Math.max(0, Math.trunc(request.offset ?? 0));
  const limit = Math.min(MAX_PAGE_LIMIT, Math.max(0, Math.trunc(request.limit ?? DEFAULT_PAGE_LIMIT)));
  return { offset, limit };
}

/** Builds a `Page` from one page of entries and the total count. */
export function toPage<T>(entries: T[], count: number, offset: number, limit: number): Page<T> {
  const page: Page<T> = { entries, count, offset, limit };
  const next = offset + entries.length;
  if (limit > 0 && next < count) page.nextOffset = next;
  return page;
}

/** `true` for SQLite unique/primary-key constraint violations. */
export function isUniqueViolation(error: unknown): boolean {
  return (
    error instanceof Error &&
    "code" in error &&
    (error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === "SQLITE_CONSTRAINT_PRIMARYKEY")
  );
}
