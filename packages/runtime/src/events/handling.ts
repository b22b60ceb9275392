/**
 * Handling one incoming event, shared by the ephemeral and durable listeners: decode and validate the
 * body, read its header, and run the handler with throws and `Result.err` folded into one outcome.
 */
import { BaseError, Result, UnexpectedError } from "@trellis/result";
import { ValidationError } from "../errors/errors.js";
import type { SchemaSet } from "../validation/schemas.js";
import type { EventHandler, EventHeader, EventListenerContext } from "./types.js";

const decoder = new TextDecoder();

/** Parses a message body as JSON and validates it against schema `schemaName`. */
export function decodeEvent(
  data: Uint8Array,
  schemaName: string,
  schemas: SchemaSet,
): Result<Record<string, unknown>, ValidationError> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (cause) {
    return Result.err(
      new ValidationError([{ path: "", message: "the event body is not valid JSON" }], {
        cause,
        context: { schema: schemaName },
      }),
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return Result.err(
      new ValidationError([{ path: "", message: "the event body must be a JSON object" }], {
        context: { schema: schemaName },
      }),
    );
  }
  return schemas.validate<Record<string, unknown>>(schemaName, value);
}

/** The header of a decoded payload; a missing or malformed one falls back to the message id. */
export function headerOf(payload: Record<string, unknown>, fallbackId: string | undefined): EventHeader {
  const header = payload.header;
  if (typeof header === "object" && header !== null) {
    const { id, time } = header as Record<string, unknown>;
    return {
      id: typeof id === "string" ? id : (fallbackId ?? ""),
      time: typeof time === "string" ? time : "",
    };
  }
  return { id: fallbackId ?? "", time: "" };
}

/** Throws a clear error when `schemaName` is not in `schemas` (checked once, when a listener is set up). */
export function assertSchemaKnown(schemas: SchemaSet, schemaName: string, eventName: string): void {
  try {
    schemas.validate(schemaName, {});
  } catch (cause) {
    throw new Error(
      `the schema '${schemaName}' of event '${eventName}' is not in the given schema set; ` +
        "pass the schema set of the contract that owns the event",
      { cause },
    );
  }
}

/** Runs a handler: nothing or `Result.ok` is success; `Result.err` stays; a throw becomes `UnexpectedError`. */
export async function invokeHandler<TEvent>(
  handler: EventHandler<TEvent>,
  event: TEvent,
  context: EventListenerContext,
): Promise<Result<void, BaseError>> {
  try {
    const outcome = await handler(event, context);
    if (Result.isResult(outcome) && outcome.isErr()) {
      const error = outcome.error;
      return Result.err(error instanceof BaseError ? error : UnexpectedError.from(error));
    }
    return Result.ok(undefined);
  } catch (cause) {
    return Result.err(UnexpectedError.from(cause, "Event handler threw"));
  }
}

/** Freezes `value` and everything reachable from it, in place. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Waits for `promise` at most `ms` milliseconds; true when it settled in time. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when NATS subject `subject` matches `pattern` (`*` one token, trailing `>` one or more). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (let index = 0; index < want.length; index++) {
    const token = want[index];
    if (token === ">") return index === want.length - 1 && have.length > index;
    if (index >= have.length) return false;
    if (token !== "*" && token !== have[index]) return false;
  }
  return want.length === have.length;
}
