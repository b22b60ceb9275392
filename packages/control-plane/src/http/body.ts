/**
 * Request bodies: JSON (or form) parsed with zod at the boundary. A refusal names the first bad
 * field: `{reason: "invalid_request", field: "sessionKey", message: "sessionKey: …"}`.
 */
import { Result } from "@trellis/result";
import type { Context } from "hono";
import type { z } from "zod";
import { FlowError } from "../flows/errors.js";

/** Reasons a malformed body is refused with. */
export type MalformedBodyReason = "invalid_request" | "invalid_logout_request";

/** Validates `raw` with `schema`; a failure names the first offending field. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  reason: MalformedBodyReason = "invalid_request",
): Result<z.output<S>, FlowError> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return Result.ok(parsed.data);
  const issue = parsed.error.issues[0];
  const field = issue === undefined || issue.path.length === 0 ? "(body)" : issue.path.join(".");
  return Result.err(new FlowError(reason, `${field}: ${issue?.message ?? "invalid value"}`, { field }));
}

/** Reads the JSON body and validates it with `schema`. */
export async function parseJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  reason: MalformedBodyReason = "invalid_request",
): Promise<Result<z.output<S>, FlowError>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    return Result.err(new FlowError(reason, "The request body must be a JSON document", { field: "(body)" }));
  }
  return parseWith(schema, raw, reason);
}
