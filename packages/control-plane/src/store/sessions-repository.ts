/**
 * `sessions`: exactly one session per session key (user, service or device). A session expires
 * {@link SESSION_TTL_MS} (24 h) after its `lastAuth`: reads treat older sessions as absent, and `get`
 * deletes them lazily.
 */
import { ulid } from "ulid";
import { z } from "zod";
import {
  type Clock,
  iso,
  type JsonObject,
  JsonObjectSchema,
  normalizeIso,
  normalizePage,
  type Page,
  type PageRequest,
  parseColumn,
  parseJsonColumn,
  systemClock,
  toPage,
} from "./codec.js";
import type { SqliteDatabase } from "./database.js";

/** Sessions expire this long after their last authentication (24 h). */
export const SESSION_TTL_MS = 24 * 60 * 60 * 1000;

/** Principal types of sessions. */
export type SessionType = "user" | "service" | "device";

/** Participant kinds recorded on sessions. */
export type SessionParticipantKind = "app" | "agent" | "service" | "device";

const SessionParticipantKindSchema = z.enum(["app", "agent", "service", "device"]).nullable();

/** A stored session. */
export interface StoredSession {
  sessionKey: string;
  /** userId (user), service trellisId (service) or device instanceId (device). */
  trellisId: string;
  type: SessionType;
  origin: string | null;
  externalId: string | null;
  identityGrantId: string | null;
  contractDigest: string | null;
  contractId: string | null;
  participantKind: SessionParticipantKind | null;
  instanceId: string | null;
  deploymentId: string | null;
  instanceKey: string | null;
  publicIdentityKey: string | null;
  createdAt: string;
  lastAuth: string;
  revokedAt: string | null;
  /** The full session document. */
  session: JsonObject;
}

/** Input of {@link SessionsRepository.upsert}; omitted optional fields are stored as `null`. */
export interface SessionInput {
  sessionKey: string;
  trellisId: string;
  type: SessionType;
  origin?: string | null;
  externalId?: string | null;
  identityGrantId?: string | null;
  contractDigest?: string | null;
  contractId?: string | null;
  participantKind?: SessionParticipantKind | null;
  instanceId?: string | null;
  deploymentId?: string | null;
  instanceKey?: string | null;
  publicIdentityKey?: string | null;
  /** Default: `now`. */
  createdAt?: string;
  /** Default: `now`. */
  lastAuth?: string;
  session: JsonObject;
}

/** Filter of {@link SessionsRepository.list}. */
export interface SessionListFilter {
  type?: SessionType;
  trellisId?: string;
}

interface SessionRow {
  session_key: string;
  trellis_id: string;
  type: SessionType;
  origin: string | null;
  external_id: string | null;
  identity_grant_id: string | null;
  contract_digest: string | null;
  contract_id: string | null;
  participant_kind: string | null;
  instance_id: string | null;
  deployment_id: string | null;
  instance_key: string | null;
  public_identity_key: string | null;
  created_at: string;
  last_auth: string;
  revoked_at: string | null;
  session: string;
}

const COLUMNS =
  "session_key, trellis_id, type, origin, external_id, identity_grant_id, contract_digest, contract_id, participant_kind, instance_id, deployment_id, instance_key, public_identity_key, created_at, last_auth, revoked_at, session";

function toSession(row: SessionRow): StoredSession {
  const where = (column: string) => ({ table: "sessions", column });
  return {
    sessionKey: row.session_key,
    trellisId: row.trellis_id,
    type: row.type,
    origin: row.origin,
    externalId: row.external_id,
    identityGrantId: row.identity_grant_id,
    contractDigest: row.contract_digest,
    contractId: row.contract_id,
    participantKind: parseColumn(
      SessionParticipantKindSchema,
      row.participant_kind,
      where("participant_kind"),
    ),
    instanceId: row.instance_id,
    deploymentId: row.deployment_id,
    instanceKey: row.instance_key,
    publicIdentityKey: row.public_identity_key,
    createdAt: row.created_at,
    lastAuth: row.last_auth,
    revokedAt: row.revoked_at,
    session: parseJsonColumn(JsonObjectSchema, row.session, where("session")),
  };
}

/** `true` when `session` has expired at `now` (24 h after `lastAuth`). */
export function isSessionExpired(session: Pick<StoredSession, "lastAuth">, now: Date): boolean {
  return Date.parse(session.lastAuth) + SESSION_TTL_MS <= now.getTime();
}

/** Sessions whose `last_auth` is after this instant are live at `now`. */
function liveAfter(now: Date): string {
  return iso(new Date(now.getTime() - SESSION_TTL_MS));
}

/** Repository of `sessions`. */
export class SessionsRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Stores the session of a session key, replacing any previous one for that key. */
  upsert(input: SessionInput, now: Date = this.clock()): StoredSession {
    const at = iso(now);
    const session: StoredSession = {
      sessionKey: input.sessionKey,
      trellisId: input.trellisId,
      type: input.type,
      origin: input.origin ?? null,
      externalId: input.externalId ?? null,
      identityGrantId: input.identityGrantId ?? null,
      contractDigest: input.contractDigest ?? null,
      contractId: input.contractId ?? null,
      participantKind: input.participantKind ?? null,
      instanceId: input.instanceId ?? null,
      deploymentId: input.deploymentId ?? null,
      instanceKey: input.instanceKey ?? null,
      publicIdentityKey: input.publicIdentityKey ?? null,
      createdAt: input.createdAt === undefined ? at : normalizeIso(input.createdAt),
      lastAuth: input.lastAuth === undefined ? at : normalizeIso(input.lastAuth),
      revokedAt: null,
      session: input.session,
    };
    this.db
      .prepare(
        `INSERT INTO sessions (id, ${COLUMNS}) VALUES (@id, @sessionKey, @trellisId, @type, @origin, @externalId,
           @identityGrantId, @contractDigest, @contractId, @participantKind, @instanceId, @deploymentId,
           @instanceKey, @publicIdentityKey, @createdAt, @lastAuth, NULL, @session)
         ON CONFLICT (session_key) DO UPDATE SET trellis_id = excluded.trellis_id, type = excluded.type,
           origin = excluded.origin, external_id = excluded.external_id,
           identity_grant_id = excluded.identity_grant_id, contract_digest = excluded.contract_digest,
           contract_id = excluded.contract_id, participant_kind = excluded.participant_kind,
           instance_id = excluded.instance_id, deployment_id = excluded.deployment_id,
           instance_key = excluded.instance_key, public_identity_key = excluded.public_identity_key,
           created_at = excluded.created_at, last_auth = excluded.last_auth, revoked_at = NULL,
           session = excluded.session`,
      )
      .run({
        id: ulid(),
        sessionKey: session.sessionKey,
        trellisId: session.trellisId,
        type: session.type,
        origin: session.origin,
        externalId: session.externalId,
        identityGrantId: session.identityGrantId,
        contractDigest: session.contractDigest,
        contractId: session.contractId,
        participantKind: session.participantKind,
        instanceId: session.instanceId,
        deploymentId: session.deploymentId,
        instanceKey: session.instanceKey,
        publicIdentityKey: session.publicIdentityKey,
        createdAt: session.createdAt,
        lastAuth: session.lastAuth,
        session: JSON.stringify(session.session),
      });
    return session;
  }

  /** The live session of a session key, or `undefined`; an expired one is deleted. */
  get(sessionKey: string, now: Date = this.clock()): StoredSession | undefined {
    const row = this.db
      .prepare<[string], SessionRow>(`SELECT ${COLUMNS} FROM sessions WHERE session_key = ?`)
      .get(sessionKey);
    if (row === undefined) return undefined;
    const session = toSession(row);
    if (!isSessionExpired(session, now)) return session;
    // Only delete the row we looked at: a concurrent refresh must survive.
    this.db
      .prepare<[string, string]>("DELETE FROM sessions WHERE session_key = ? AND last_auth = ?")
      .run(sessionKey, row.last_auth);
    return undefined;
  }

  /** Records a fresh authentication (`lastAuth = now`). Returns `false` when there is no session. */
  touch(sessionKey: string, now: Date = this.clock()): boolean {
    return (
      this.db
        .prepare<[string, string]>("UPDATE sessions SET last_auth = ? WHERE session_key = ?")
        .run(iso(now), sessionKey).changes > 0
    );
  }

  /** Deletes the session of a key. Returns `false` when there was none. */
  delete(sessionKey: string): boolean {
    return (
      this.db.prepare<[string]>("DELETE FROM sessions WHERE session_key = ?").run(sessionKey).changes > 0
    );
  }

  /** Live user sessions of an account, newest authentication first. */
  listByUser(userId: string, now: Date = this.clock()): StoredSession[] {
    return this.db
      .prepare<[string, string], SessionRow>(
        `SELECT ${COLUMNS} FROM sessions WHERE type = 'user' AND trellis_id = ? AND last_auth > ?
         ORDER BY last_auth DESC, session_key`,
      )
      .all(userId, liveAfter(now))
      .map(toSession);
  }

  /** Live sessions bound to an identity grant. */
  listByGrant(identityGrantId: string, now: Date = this.clock()): StoredSession[] {
    return this.db
      .prepare<[string, string], SessionRow>(
        `SELECT ${COLUMNS} FROM sessions WHERE identity_grant_id = ? AND last_auth > ?
         ORDER BY last_auth DESC, session_key`,
      )
      .all(identityGrantId, liveAfter(now))
      .map(toSession);
  }

  /** One page of live sessions, newest authentication first. */
  list(
    page: PageRequest = {},
    filter: SessionListFilter = {},
    now: Date = this.clock(),
  ): Page<StoredSession> {
    const { offset, limit } = normalizePage(page);
    const clauses = ["last_auth > @liveAfter"];
    const params: Record<string, string> = { liveAfter: liveAfter(now) };
    if (filter.type !== undefined) {
      clauses.push("type = @type");
      params.type = filter.type;
    }
    if (filter.trellisId !== undefined) {
      clauses.push("trellis_id = @trellisId");
      params.trellisId = filter.trellisId;
    }
    const where = `WHERE ${clauses.join(" AND ")}`;
    const count =
      this.db.prepare<object, { n: number }>(`SELECT COUNT(*) AS n FROM sessions ${where}`).get(params)?.n ??
      0;
    const rows = this.db
      .prepare<object, SessionRow>(
        `SELECT ${COLUMNS} FROM sessions ${where} ORDER BY last_auth DESC, session_key LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit, offset });
    return toPage(rows.map(toSession), count, offset, limit);
  }

  /** Deletes every session of an account, optionally keeping one key; returns the deleted keys. */
  deleteByUser(userId: string, options: { exceptSessionKey?: string } = {}): string[] {
    return this.deleteWhere("type = 'user' AND trellis_id = @id AND session_key <> @except", {
      id: userId,
      except: options.exceptSessionKey ?? "",
    });
  }

  /** Deletes every session bound to an identity grant; returns the deleted keys. */
  deleteByGrant(identityGrantId: string): string[] {
    return this.deleteWhere("identity_grant_id = @id", { id: identityGrantId });
  }

  /** Deletes sessions that expired at `now`; returns how many. */
  purgeExpired(now: Date = this.clock()): number {
    return this.db.prepare<[string]>("DELETE FROM sessions WHERE last_auth <= ?").run(liveAfter(now)).changes;
  }

  private deleteWhere(where: string, params: Record<string, string>): string[] {
    return this.db.transaction((): string[] => {
      const keys = this.db
        .prepare<object, { session_key: string }>(
          `SELECT session_key FROM sessions WHERE ${where} ORDER BY session_key`,
        )
        .all(params)
        .map((row) => row.session_key);
      this.db.prepare<object>(`DELETE FROM sessions WHERE ${where}`).run(params);
      return keys;
    })();
  }
}
