/**
 * `account_flows`: durable one-time links (admin bootstrap, identity link, local password reset).
 * The flow id is a bearer secret: only `flow_id_hash = base64url(SHA-256(flowId))` is stored.
 */
import { randomBytes } from "node:crypto";
import { Result } from "@trellis/result";
import { ulid } from "ulid";
import {
  type Clock,
  iso,
  type JsonObject,
  JsonObjectSchema,
  parseNullableJsonColumn,
  StringListSchema,
  sha256Base64url,
  systemClock,
} from "./codec.js";
import type { SqliteDatabase } from "./database.js";
import { AccountFlowUnavailableError } from "./errors.js";

/** Kinds of account flows. */
export type AccountFlowKind = "admin_bootstrap" | "identity_link" | "local_password_reset";

/** A stored account flow (the flow id itself is never stored). */
export interface AccountFlow {
  flowIdHash: string;
  kind: AccountFlowKind;
  targetUserId: string | null;
  targetIdentityId: string | null;
  targetLocalUsername: string | null;
  /** `null` for flows the system created (e.g. the startup admin bootstrap). */
  createdByUserId: string | null;
  allowedProviders: string[] | null;
  capabilities: string[] | null;
  profileHint: JsonObject | null;
  returnTo: string | null;
  createdAt: string;
  expiresAt: string;
  consumedAt: string | null;
}

/** Input of {@link AccountFlowsRepository.create}. */
export interface CreateAccountFlowInput {
  kind: AccountFlowKind;
  /** Time to live in milliseconds. */
  ttlMs: number;
  targetUserId?: string | null;
  targetIdentityId?: string | null;
  targetLocalUsername?: string | null;
  createdByUserId?: string | null;
  allowedProviders?: readonly string[] | null;
  capabilities?: readonly string[] | null;
  profileHint?: JsonObject | null;
  returnTo?: string | null;
}

interface FlowRow {
  flow_id_hash: string;
  kind: AccountFlowKind;
  target_user_id: string | null;
  target_identity_id: string | null;
  target_local_username: string | null;
  created_by_user_id: string | null;
  allowed_providers: string | null;
  capabilities: string | null;
  profile_hint: string | null;
  return_to: string | null;
  created_at: string;
  expires_at: string;
  consumed_at: string | null;
}

const COLUMNS =
  "flow_id_hash, kind, target_user_id, target_identity_id, target_local_username, created_by_user_id, allowed_providers, capabilities, profile_hint, return_to, created_at, expires_at, consumed_at";

/** A fresh flow id: 32 random bytes, base64url (43 characters). */
export function newAccountFlowId(): string {
  return randomBytes(32).toString("base64url");
}

/** `base64url(SHA-256(flowId))`: what is stored for a flow id. */
export function hashAccountFlowId(flowId: string): string {
  return sha256Base64url(flowId);
}

function toFlow(row: FlowRow): AccountFlow {
  const where = (column: string) => ({ table: "account_flows", column });
  return {
    flowIdHash: row.flow_id_hash,
    kind: row.kind,
    targetUserId: row.target_user_id,
    targetIdentityId: row.target_identity_id,
    targetLocalUsername: row.target_local_username,
    createdByUserId: row.created_by_user_id,
    allowedProviders: parseNullableJsonColumn(
      StringListSchema,
      row.allowed_providers,
      where("allowed_providers"),
    ),
    capabilities: parseNullableJsonColumn(StringListSchema, row.capabilities, where("capabilities")),
    profileHint: parseNullableJsonColumn(JsonObjectSchema, row.profile_hint, where("profile_hint")),
    returnTo: row.return_to,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    consumedAt: row.consumed_at,
  };
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** Why `flow` cannot be used at `now`, or `undefined` when it can. */
export function accountFlowUnavailability(
  flow: AccountFlow,
  now: Date,
): "flow_expired" | "flow_consumed" | undefined {
  if (flow.consumedAt !== null) return "flow_consumed";
  if (Date.parse(flow.expiresAt) <= now.getTime()) return "flow_expired";
  return undefined;
}

/** Repository of `account_flows`. */
export class AccountFlowsRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Creates a flow. Returns the flow id (the secret to hand out; only its hash is stored) and the
   * stored flow. Pass `flowId` only in tests; by default a random one is drawn.
   */
  create(
    input: CreateAccountFlowInput,
    now: Date = this.clock(),
    flowId: string = newAccountFlowId(),
  ): { flowId: string; flow: AccountFlow } {
    const flow: AccountFlow = {
      flowIdHash: hashAccountFlowId(flowId),
      kind: input.kind,
      targetUserId: input.targetUserId ?? null,
      targetIdentityId: input.targetIdentityId ?? null,
      targetLocalUsername: input.targetLocalUsername ?? null,
      createdByUserId: input.createdByUserId ?? null,
      allowedProviders:
        input.allowedProviders === undefined || input.allowedProviders === null
          ? null
          : [...input.allowedProviders],
      capabilities:
        input.capabilities === undefined || input.capabilities === null ? null : [...input.capabilities],
      profileHint: input.profileHint ?? null,
      returnTo: input.returnTo ?? null,
      createdAt: iso(now),
      expiresAt: iso(new Date(now.getTime() + input.ttlMs)),
      consumedAt: null,
    };
    this.db
      .prepare(
        `INSERT INTO account_flows (id, ${COLUMNS}) VALUES (@id, @flowIdHash, @kind, @targetUserId,
           @targetIdentityId, @targetLocalUsername, @createdByUserId, @allowedProviders, @capabilities,
           @profileHint, @returnTo, @createdAt, @expiresAt, NULL)`,
      )
      .run({
        id: ulid(),
        flowIdHash: flow.flowIdHash,
        kind: flow.kind,
        targetUserId: flow.targetUserId,
        targetIdentityId: flow.targetIdentityId,
        targetLocalUsername: flow.targetLocalUsername,
        createdByUserId: flow.createdByUserId,
        allowedProviders: jsonOrNull(flow.allowedProviders),
        capabilities: jsonOrNull(flow.capabilities),
        profileHint: jsonOrNull(flow.profileHint),
        returnTo: flow.returnTo,
        createdAt: flow.createdAt,
        expiresAt: flow.expiresAt,
      });
    return { flowId, flow };
  }

  /** The stored flow for a flow id, whatever its state, or `undefined`. */
  findByFlowId(flowId: string): AccountFlow | undefined {
    const row = this.db
      .prepare<[string], FlowRow>(`SELECT ${COLUMNS} FROM account_flows WHERE flow_id_hash = ?`)
      .get(hashAccountFlowId(flowId));
    return row === undefined ? undefined : toFlow(row);
  }

  /** The flow if it can still be used at `now`, else why not. Does not consume it. */
  getUsable(flowId: string, now: Date = this.clock()): Result<AccountFlow, AccountFlowUnavailableError> {
    const flow = this.findByFlowId(flowId);
    if (flow === undefined) return Result.err(new AccountFlowUnavailableError("flow_not_found"));
    const reason = accountFlowUnavailability(flow, now);
    return reason === undefined ? Result.ok(flow) : Result.err(new AccountFlowUnavailableError(reason));
  }

  /**
   * Consumes the flow exactly once: the first caller gets `Ok(flow)` (with `consumedAt` set); later
   * callers, and callers after expiry, get `Err` (`flow_consumed`, `flow_expired`, `flow_not_found`).
   */
  consume(flowId: string, now: Date = this.clock()): Result<AccountFlow, AccountFlowUnavailableError> {
    const flowIdHash = hashAccountFlowId(flowId);
    const at = iso(now);
    return this.db
      .transaction((): Result<AccountFlow, AccountFlowUnavailableError> => {
        const changed = this.db
          .prepare<[string, string, string]>(
            `UPDATE account_flows SET consumed_at = ?
             WHERE flow_id_hash = ? AND consumed_at IS NULL AND expires_at > ?`,
          )
          .run(at, flowIdHash, at).changes;
        const row = this.db
          .prepare<[string], FlowRow>(`SELECT ${COLUMNS} FROM account_flows WHERE flow_id_hash = ?`)
          .get(flowIdHash);
        if (row === undefined) return Result.err(new AccountFlowUnavailableError("flow_not_found"));
        const flow = toFlow(row);
        if (changed === 1) return Result.ok(flow);
        return Result.err(
          new AccountFlowUnavailableError(accountFlowUnavailability(flow, now) ?? "flow_consumed"),
        );
      })
      .immediate();
  }

  /** Unconsumed flows of `kind` for a target user (expired ones included), oldest first. */
  listPendingForUser(kind: AccountFlowKind, targetUserId: string): AccountFlow[] {
    return this.db
      .prepare<[string, string], FlowRow>(
        `SELECT ${COLUMNS} FROM account_flows
         WHERE kind = ? AND target_user_id = ? AND consumed_at IS NULL ORDER BY created_at`,
      )
      .all(kind, targetUserId)
      .map(toFlow);
  }

  /** Deletes a flow by its stored hash. Returns `false` when there was none. */
  deleteByHash(flowIdHash: string): boolean {
    return (
      this.db.prepare<[string]>("DELETE FROM account_flows WHERE flow_id_hash = ?").run(flowIdHash).changes >
      0
    );
  }

  /** Deletes flows that expired before `now` or were consumed; returns how many. */
  purgeFinished(now: Date = this.clock()): number {
    return this.db
      .prepare<[string]>("DELETE FROM account_flows WHERE expires_at <= ? OR consumed_at IS NOT NULL")
      .run(iso(now)).changes;
  }
}
