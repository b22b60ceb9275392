/**
 * The JSON records the login flows keep in the AUTH-account KV buckets (auth spec §4):
 * `trellis_browser_flows` (key = flowId) and `trellis_pending_auth` (key = base64url(SHA-256(authToken))).
 * Records are created with `create`, changed with revision-checked `update` and consumed with a
 * revision-checked delete, so concurrent requests cannot both win.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import { z } from "zod";

/** A login flow's identity of the contract it is for. */
export const FlowContractSchema = z.object({ id: z.string(), digest: z.string() });

/** A browser login flow. */
export const BrowserFlowSchema = z.object({
  flowId: z.string(),
  kind: z.literal("login"),
  /** The session key that started the flow (and alone may bind it). */
  sessionKey: z.string(),
  /** Validated, normalized redirect target. */
  redirectTo: z.string(),
  /** The web app origin for absolute redirects. */
  app: z.object({ origin: z.string() }).optional(),
  /** Opaque client context from the request. */
  context: z.json().optional(),
  contract: FlowContractSchema,
  provider: z.string().optional(),
  /**
   * SHA-256 of the authToken of the sign-in (the pending-auth key). The token itself is never
   * stored: nothing accepts it as a bearer credential, so its hash is all the flow needs.
   */
  authTokenHash: z.string().optional(),
  /** Set when the user denied consent; denial is never persisted beyond the flow. */
  approvalDenied: z.boolean().optional(),
  /** Set when the flow was bound to its session. */
  boundAt: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.string(),
});

/** A browser login flow. */
export type BrowserFlow = z.infer<typeof BrowserFlowSchema>;

/** The identity a user signed in with. */
export const FlowIdentitySchema = z.object({
  identityId: z.string(),
  provider: z.string(),
  subject: z.string(),
});

/** A completed sign-in waiting to be bound. */
export const PendingAuthSchema = z.object({
  flowId: z.string(),
  userId: z.string(),
  identity: FlowIdentitySchema,
  user: z.object({ name: z.string(), email: z.string().nullable() }),
  sessionKey: z.string(),
  redirectTo: z.string(),
  app: z.object({ origin: z.string() }).optional(),
  contract: FlowContractSchema,
  createdAt: z.string(),
  expiresAt: z.string(),
});

/** A completed sign-in waiting to be bound. */
export type PendingAuth = z.infer<typeof PendingAuthSchema>;

/** A record read from KV with the revision to update or delete it against. */
export type KvRecord<T> =
  | { state: "present"; value: T; revision: number }
  /** The key was deleted (a consumed record whose marker has not expired yet). */
  | { state: "deleted" }
  /** No such key (never written, expired, or not a record of this schema). */
  | { state: "absent" };

const VALID_KEY = /^[A-Za-z0-9_=-]+$/;

function decode<S extends z.ZodType>(entry: KvEntry, schema: S): z.output<S> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(entry.string());
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/** Reads a JSON record; keys that are not plain KV tokens are `absent`. */
export async function readRecord<S extends z.ZodType>(
  kv: KV,
  key: string,
  schema: S,
): Promise<KvRecord<z.output<S>>> {
  if (!VALID_KEY.test(key)) return { state: "absent" };
  const entry = await kv.get(key);
  if (entry === null) return { state: "absent" };
  if (entry.operation !== "PUT") return { state: "deleted" };
  const value = decode(entry, schema);
  return value === undefined ? { state: "absent" } : { state: "present", value, revision: entry.revision };
}

/** `true` for the JetStream error of a revision-checked write that lost the race. */
function isRevisionConflict(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Runs a revision-checked write: `false` when it lost the race; other failures are thrown. */
async function checkedWrite(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (isRevisionConflict(error)) return false;
    throw error;
  }
}

/** Creates a record; `false` when the key already holds one. */
export function createRecord(kv: KV, key: string, value: unknown): Promise<boolean> {
  return checkedWrite(() => kv.create(key, JSON.stringify(value)));
}

/** Replaces a record if it is still at `revision`; `false` when it changed meanwhile. */
export function updateRecord(kv: KV, key: string, value: unknown, revision: number): Promise<boolean> {
  return checkedWrite(() => kv.update(key, JSON.stringify(value), revision));
}

/** Deletes (consumes) a record if it is still at `revision`; `false` when someone else did. */
export function consumeRecord(kv: KV, key: string, revision: number): Promise<boolean> {
  return checkedWrite(() => kv.delete(key, { previousSeq: revision }));
}

/** `true` when an ISO `expiresAt` lies at or before `now`. */
export function isExpired(expiresAt: string, now: Date): boolean {
  return Date.parse(expiresAt) <= now.getTime();
}
