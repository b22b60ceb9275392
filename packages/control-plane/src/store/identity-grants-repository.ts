/**
 * `identity_grants` (+ `identity_authorities`): durable consent records per (user, identity anchor),
 * holding the approved capability keys and publish/subscribe subjects (auth spec §1.4, §1.5).
 */
import { Result } from "@trellis/result";
import { ulid } from "ulid";
import { z } from "zod";
import {
  base64url,
  type Clock,
  iso,
  parseColumn,
  parseJsonColumn,
  StringListSchema,
  sortedUnique,
  systemClock,
} from "./codec.js";
import type { SqliteDatabase } from "./database.js";
import { IdentityGrantNotFoundError } from "./errors.js";

/** Anchor of a browser app: the contract at a web origin. */
export const WebIdentityAnchorSchema = z.object({
  kind: z.literal("web"),
  contractId: z.string().min(1),
  origin: z.string().min(1),
});

/** Anchor of a CLI (and of native / device-user participants): the contract for one session key. */
export const SessionIdentityAnchorSchema = z.object({
  kind: z.enum(["cli", "native", "device-user"]),
  contractId: z.string().min(1),
  sessionPublicKey: z.string().min(1),
});

/** The identity anchor a grant is keyed by. */
export const IdentityAnchorSchema = z.union([WebIdentityAnchorSchema, SessionIdentityAnchorSchema]);

/** The identity anchor a grant is keyed by. */
export type IdentityAnchor = z.infer<typeof IdentityAnchorSchema>;

/** Anchor kinds. */
export type IdentityAnchorKind = IdentityAnchor["kind"];

/** What the user was shown and approved (auth spec §1.5 `approval`); extra fields are kept. */
export const ContractApprovalSchema = z.looseObject({
  contractDigest: z.string(),
  contractId: z.string(),
  displayName: z.string(),
  description: z.string(),
  participantKind: z.string(),
  capabilities: z.record(
    z.string(),
    z.looseObject({ displayName: z.string(), description: z.string(), consequence: z.string().optional() }),
  ),
});

/** What the user was shown and approved. */
export type ContractApproval = z.infer<typeof ContractApprovalSchema>;

/** Participant kinds that receive user grants. */
export type GrantParticipantKind = "app" | "agent";

/** Consent answers (denials are normally not persisted). */
export type GrantAnswer = "approved" | "denied";

/** A stored identity grant. */
export interface IdentityGrant {
  identityGrantId: string;
  identityAuthorityId: string;
  userId: string;
  /** Identity provider of the consenting identity (evidence). */
  origin: string;
  /** Provider subject of the consenting identity (evidence). */
  externalId: string;
  anchor: IdentityAnchor;
  evidenceContractDigest: string;
  contractId: string;
  participantKind: GrantParticipantKind;
  answer: GrantAnswer;
  answeredAt: string;
  updatedAt: string;
  approval: ContractApproval;
  /** Approved capability keys: the keys of `approval.capabilities`, sorted. */
  capabilities: string[];
  publishSubjects: string[];
  subscribeSubjects: string[];
}

/** Input of {@link IdentityGrantsRepository.upsert}. */
export interface UpsertIdentityGrantInput {
  userId: string;
  /** Provider of the identity that consented. */
  origin: string;
  /** Subject of the identity that consented. */
  externalId: string;
  anchor: IdentityAnchor;
  contractDigest: string;
  contractId: string;
  participantKind: GrantParticipantKind;
  /** Default `"approved"`. */
  answer?: GrantAnswer;
  approval: ContractApproval;
  publishSubjects: readonly string[];
  subscribeSubjects: readonly string[];
}

/** The anchor rebuilt with its fields in the order `kind, contractId, origin|sessionPublicKey`. */
export function canonicalIdentityAnchor(anchor: IdentityAnchor): IdentityAnchor {
  return anchor.kind === "web"
    ? { kind: anchor.kind, contractId: anchor.contractId, origin: anchor.origin }
    : { kind: anchor.kind, contractId: anchor.contractId, sessionPublicKey: anchor.sessionPublicKey };
}

/** `base64url(utf8(userId + ":" + JSON.stringify(anchor)))` (auth spec §1.3). */
export function identityGrantIdFor(userId: string, anchor: IdentityAnchor): string {
  return base64url(`${userId}:${JSON.stringify(canonicalIdentityAnchor(anchor))}`);
}

/** `userId + ":" + provider + ":" + subject` (auth spec §1.3). */
export function identityAuthorityIdFor(userId: string, provider: string, subject: string): string {
  return `${userId}:${provider}:${subject}`;
}

interface GrantRow {
  identity_grant_id: string;
  identity_authority_id: string;
  user_trellis_id: string;
  origin: string;
  external_id: string;
  identity_anchor: string;
  evidence_contract_digest: string;
  contract_id: string;
  participant_kind: string;
  answer: GrantAnswer;
  answered_at: string;
  updated_at: string;
  approval_evidence: string;
  publish_subjects: string;
  subscribe_subjects: string;
}

const COLUMNS =
  "identity_grant_id, identity_authority_id, user_trellis_id, origin, external_id, identity_anchor, evidence_contract_digest, contract_id, participant_kind, answer, answered_at, updated_at, approval_evidence, publish_subjects, subscribe_subjects";

const ParticipantKindSchema = z.enum(["app", "agent"]);

function toGrant(row: GrantRow): IdentityGrant {
  const where = (column: string) => ({ table: "identity_grants", column });
  const approval = parseJsonColumn(ContractApprovalSchema, row.approval_evidence, where("approval_evidence"));
  return {
    identityGrantId: row.identity_grant_id,
    identityAuthorityId: row.identity_authority_id,
    userId: row.user_trellis_id,
    origin: row.origin,
    externalId: row.external_id,
    anchor: parseJsonColumn(IdentityAnchorSchema, row.identity_anchor, where("identity_anchor")),
    evidenceContractDigest: row.evidence_contract_digest,
    contractId: row.contract_id,
    participantKind: parseColumn(ParticipantKindSchema, row.participant_kind, where("participant_kind")),
    answer: row.answer,
    answeredAt: row.answered_at,
    updatedAt: row.updated_at,
    approval,
    capabilities: sortedUnique(Object.keys(approval.capabilities)),
    publishSubjects: parseJsonColumn(StringListSchema, row.publish_subjects, where("publish_subjects")),
    subscribeSubjects: parseJsonColumn(StringListSchema, row.subscribe_subjects, where("subscribe_subjects")),
  };
}

/** Repository of `identity_grants` and their `identity_authorities`. */
export class IdentityGrantsRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Records consent. There is one grant per (user, anchor kind, anchor): a new answer for the same
   * anchor replaces the previous evidence (the grant id, derived from user and anchor, stays the same).
   */
  upsert(input: UpsertIdentityGrantInput, now: Date = this.clock()): IdentityGrant {
    const anchor = canonicalIdentityAnchor(input.anchor);
    const identityGrantId = identityGrantIdFor(input.userId, anchor);
    const identityAuthorityId = identityAuthorityIdFor(input.userId, input.origin, input.externalId);
    const at = iso(now);
    return this.db.transaction((): IdentityGrant => {
      this.db
        .prepare(
          `INSERT INTO identity_authorities (id, identity_authority_id, user_trellis_id, origin, external_id,
             created_at, updated_at) VALUES (@id, @identityAuthorityId, @userId, @origin, @externalId, @at, @at)
           ON CONFLICT (identity_authority_id) DO UPDATE SET updated_at = excluded.updated_at`,
        )
        .run({
          id: ulid(),
          identityAuthorityId,
          userId: input.userId,
          origin: input.origin,
          externalId: input.externalId,
          at,
        });
      this.db
        .prepare(
          `INSERT INTO identity_grants (id, identity_anchor_kind, ${COLUMNS}) VALUES (@id, @anchorKind,
             @identityGrantId, @identityAuthorityId, @userId, @origin, @externalId, @anchor, @digest, @contractId,
             @participantKind, @answer, @at, @at, @approval, @publishSubjects, @subscribeSubjects)
           ON CONFLICT (user_trellis_id, identity_anchor_kind, identity_anchor) DO UPDATE SET
             identity_authority_id = excluded.identity_authority_id, origin = excluded.origin,
             external_id = excluded.external_id, evidence_contract_digest = excluded.evidence_contract_digest,
             contract_id = excluded.contract_id, participant_kind = excluded.participant_kind,
             answer = excluded.answer, answered_at = excluded.answered_at, updated_at = excluded.updated_at,
             approval_evidence = excluded.approval_evidence, publish_subjects = excluded.publish_subjects,
             subscribe_subjects = excluded.subscribe_subjects`,
        )
        .run({
          id: ulid(),
          anchorKind: anchor.kind,
          identityGrantId,
          identityAuthorityId,
          userId: input.userId,
          origin: input.origin,
          externalId: input.externalId,
          anchor: JSON.stringify(anchor),
          digest: input.contractDigest,
          contractId: input.contractId,
          participantKind: input.participantKind,
          answer: input.answer ?? "approved",
          at,
          approval: JSON.stringify(input.approval),
          publishSubjects: JSON.stringify(sortedUnique(input.publishSubjects)),
          subscribeSubjects: JSON.stringify(sortedUnique(input.subscribeSubjects)),
        });
      const stored = this.get(identityGrantId);
      if (stored === undefined)
        throw new Error(`identity grant '${identityGrantId}' vanished after being written`);
      return stored;
    })();
  }

  /** The grant, or `undefined`. */
  get(identityGrantId: string): IdentityGrant | undefined {
    const row = this.db
      .prepare<[string], GrantRow>(`SELECT ${COLUMNS} FROM identity_grants WHERE identity_grant_id = ?`)
      .get(identityGrantId);
    return row === undefined ? undefined : toGrant(row);
  }

  /** The grant of (user, anchor), or `undefined`. */
  find(userId: string, anchor: IdentityAnchor): IdentityGrant | undefined {
    const row = this.db
      .prepare<[string, string, string], GrantRow>(
        `SELECT ${COLUMNS} FROM identity_grants
         WHERE user_trellis_id = ? AND identity_anchor_kind = ? AND identity_anchor = ?`,
      )
      .get(userId, anchor.kind, JSON.stringify(canonicalIdentityAnchor(anchor)));
    return row === undefined ? undefined : toGrant(row);
  }

  /** All grants of a user, most recently answered first. */
  listByUser(userId: string): IdentityGrant[] {
    return this.db
      .prepare<[string], GrantRow>(
        `SELECT ${COLUMNS} FROM identity_grants WHERE user_trellis_id = ?
         ORDER BY answered_at DESC, identity_grant_id`,
      )
      .all(userId)
      .map(toGrant);
  }

  /**
   * Revokes a grant: deletes it and every session bound to it, in one transaction. Returns the grant
   * and the session keys that were deleted (so the caller can kick their connections).
   */
  revoke(
    identityGrantId: string,
  ): Result<{ grant: IdentityGrant; sessionKeys: string[] }, IdentityGrantNotFoundError> {
    return this.db.transaction(
      (): Result<{ grant: IdentityGrant; sessionKeys: string[] }, IdentityGrantNotFoundError> => {
        const grant = this.get(identityGrantId);
        if (grant === undefined) return Result.err(new IdentityGrantNotFoundError(identityGrantId));
        const sessionKeys = this.db
          .prepare<[string], { session_key: string }>(
            "SELECT session_key FROM sessions WHERE identity_grant_id = ? ORDER BY session_key",
          )
          .all(identityGrantId)
          .map((row) => row.session_key);
        this.db.prepare<[string]>("DELETE FROM sessions WHERE identity_grant_id = ?").run(identityGrantId);
        this.db
          .prepare<[string]>("DELETE FROM identity_grants WHERE identity_grant_id = ?")
          .run(identityGrantId);
        return Result.ok({ grant, sessionKeys });
      },
    )();
  }
}
