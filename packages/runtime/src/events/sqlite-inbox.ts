/**
 * The SQLite inbox: table `trellis_inbox(message_id, recorded_at)`. Use {@link SqliteInboxRepository.recordSync}
 * inside the handler's own transaction, so the "processed" mark commits (or rolls back) together with
 * the handler's writes.
 */
import type { Database, Statement } from "better-sqlite3";
import type { InboxRepository } from "./inbox.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS trellis_inbox (
  message_id TEXT PRIMARY KEY,
  recorded_at INTEGER NOT NULL
);
`;

/** An inbox in a SQLite database. */
export class SqliteInboxRepository implements InboxRepository {
  private insert: Statement<[{ id: string; now: number }]> | undefined;

  constructor(private readonly db: Database) {}

  /** Creates the `trellis_inbox` table if missing. */
  ensureSchema(): void {
    this.db.exec(SCHEMA);
  }

  /** Records `messageId` synchronously (usable inside a transaction); true the first time. */
  recordSync(messageId: string): boolean {
    this.insert ??= this.db.prepare(
      "INSERT INTO trellis_inbox (message_id, recorded_at) VALUES (@id, @now) ON CONFLICT (message_id) DO NOTHING",
    );
    return this.insert.run({ id: messageId, now: Date.now() }).changes === 1;
  }

  async record(messageId: string): Promise<boolean> {
    return this.recordSync(messageId);
  }
}
