/**
 * The SQLite outbox (runtime spec §2), over better-sqlite3. `add` is synchronous so it runs inside the
 * caller's own `db.transaction(...)`, next to the state change it announces: either both commit or
 * neither does. Table `trellis_outbox`, created by {@link SqliteOutboxRepository.ensureSchema};
 * times are unix milliseconds.
 */
import type { Database, Statement } from "better-sqlite3";
import type { OutboxLeaseOptions } from "./memory-outbox.js";
import { loadPreparedEvent, type OutboxEntry, type OutboxRepository, storePreparedEvent } from "./outbox.js";
import type { PreparedEvent } from "./types.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS trellis_outbox (
  id TEXT PRIMARY KEY,
  event TEXT NOT NULL,
  subject TEXT NOT NULL,
  payload TEXT NOT NULL,
  headers TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'dispatched', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS trellis_outbox_due ON trellis_outbox (state, next_attempt_at);
`;

interface OutboxRow {
  id: string;
  event: string;
  subject: string;
  payload: string;
  headers: string;
  state: "pending" | "dispatched" | "failed";
  attempts: number;
  created_at: number;
  updated_at: number;
  next_attempt_at: number;
  last_error: string | null;
}

interface Statements {
  insert: Statement<[Record<string, string | number>]>;
  claim: Statement<[{ now: number; lease: number; limit: number }], OutboxRow>;
  dispatched: Statement<[{ id: string; now: number }]>;
  failed: Statement<[{ id: string; now: number; error: string; next: number }]>;
}

/**
 * An outbox in a SQLite database. `claimDue` leases entries by pushing `next_attempt_at` forward
 * (so two dispatchers on one file never take the same entry at once); an entry whose dispatcher died
 * becomes due again when the lease ends and is re-published, which JetStream de-duplicates.
 */
export class SqliteOutboxRepository implements OutboxRepository {
  private statements: Statements | undefined;
  private readonly leaseMs: number;

  constructor(
    private readonly db: Database,
    options: OutboxLeaseOptions = {},
  ) {
    this.leaseMs = options.claimLeaseMs ?? 30_000;
  }

  /** Creates the `trellis_outbox` table and its index if missing. */
  ensureSchema(): void {
    this.db.exec(SCHEMA);
  }

  /** Stores a prepared event as pending. Synchronous: call it inside your transaction. */
  add(prepared: PreparedEvent<unknown>): void {
    const stored = storePreparedEvent(prepared);
    const now = Date.now();
    this.prepared().insert.run({
      id: stored.id,
      event: stored.event,
      subject: stored.subject,
      payload: stored.payload,
      headers: JSON.stringify(stored.headers),
      now,
    });
  }

  async claimDue(limit: number, now: Date): Promise<OutboxEntry[]> {
    const at = now.getTime();
    const rows = this.prepared().claim.all({ now: at, lease: at + this.leaseMs, limit: Math.max(0, limit) });
    rows.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    return rows.map((row) => ({
      id: row.id,
      prepared: loadPreparedEvent({
        event: row.event,
        subject: row.subject,
        payload: row.payload,
        headers: JSON.parse(row.headers) as Record<string, string>,
      }),
      state: row.state,
      attempts: row.attempts,
      createdAt: new Date(row.created_at),
      ...(row.last_error !== null && { lastError: row.last_error }),
    }));
  }

  async markDispatched(id: string): Promise<void> {
    this.prepared().dispatched.run({ id, now: Date.now() });
  }

  async markFailed(id: string, error: string, nextAttemptAt: Date): Promise<void> {
    this.prepared().failed.run({ id, now: Date.now(), error, next: nextAttemptAt.getTime() });
  }

  private prepared(): Statements {
    this.statements ??= {
      insert: this.db.prepare(
        `INSERT INTO trellis_outbox (id, event, subject, payload, headers, state, attempts, created_at, updated_at, next_attempt_at)
         VALUES (@id, @event, @subject, @payload, @headers, 'pending', 0, @now, @now, @now)
         ON CONFLICT (id) DO NOTHING`,
      ),
      claim: this.db.prepare<[{ now: number; lease: number; limit: number }], OutboxRow>(
        `UPDATE trellis_outbox SET next_attempt_at = @lease, updated_at = @now
         WHERE id IN (
           SELECT id FROM trellis_outbox
           WHERE state IN ('pending', 'failed') AND next_attempt_at <= @now
           ORDER BY created_at, id LIMIT @limit
         )
         RETURNING *`,
      ),
      dispatched: this.db.prepare(
        `UPDATE trellis_outbox SET state = 'dispatched', attempts = attempts + 1, updated_at = @now, last_error = NULL
         WHERE id = @id`,
      ),
      failed: this.db.prepare(
        `UPDATE trellis_outbox SET state = 'failed', attempts = attempts + 1, updated_at = @now,
           last_error = @error, next_attempt_at = @next
         WHERE id = @id`,
      ),
    };
    return this.statements;
  }
}
