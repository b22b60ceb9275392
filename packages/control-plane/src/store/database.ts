/**
 * Opening the control-plane SQLite database: WAL journal, 5 s busy timeout, foreign keys on, and the
 * versioned migrations of `migrations.ts` applied (each in its own transaction, recorded in
 * `schema_migrations`). A database whose schema is newer than the code is refused.
 */
import Database from "better-sqlite3";
import { MigrationMismatchError, SchemaTooNewError } from "./errors.js";
import { MIGRATIONS, type Migration } from "./migrations.js";

/** A better-sqlite3 connection. */
export type SqliteDatabase = Database.Database;

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Migrations to apply (default: {@link MIGRATIONS}); for tests. */
  migrations?: readonly Migration[];
  /** Busy timeout in milliseconds (default 5000). */
  busyTimeoutMs?: number;
}

/** One applied migration as recorded in `schema_migrations`. */
export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: string;
}

/**
 * Opens (creating if needed) the database at `path` and brings its schema up to date.
 * Throws {@link SchemaTooNewError} when the file was migrated by newer code, and
 * {@link MigrationMismatchError} when a recorded migration name differs from the code's.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    applyMigrations(db, options.migrations ?? MIGRATIONS, path);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The highest version of `migrations` (0 when empty). */
export function latestSchemaVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

/** The migrations recorded in `db`, oldest first (empty when none ran). */
export function appliedMigrations(db: SqliteDatabase): AppliedMigration[] {
  const table = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
    )
    .get();
  if (table === undefined) return [];
  return db
    .prepare<[], { version: number; name: string; applied_at: string }>(
      "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
    )
    .all()
    .map((row) => ({ version: row.version, name: row.name, appliedAt: row.applied_at }));
}

/** Applies the pending `migrations` to `db` (see {@link openDatabase} for the errors thrown). */
export function applyMigrations(
  db: SqliteDatabase,
  migrations: readonly Migration[] = MIGRATIONS,
  path: string = db.name,
): void {
  assertWellFormed(migrations);
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const codeVersion = latestSchemaVersion(migrations);
  const recorded = db.prepare<[number], { name: string }>(
    "SELECT name FROM schema_migrations WHERE version = ?",
  );
  const maxVersion = db.prepare<[], { version: number | null }>(
    "SELECT MAX(version) AS version FROM schema_migrations",
  );
  const record = db.prepare<[number, string, string]>(
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
  );

  const checkNotNewer = (): void => {
    const current = maxVersion.get()?.version ?? 0;
    if (current > codeVersion) throw new SchemaTooNewError(current, codeVersion, path);
  };
  checkNotNewer();

  for (const migration of migrations) {
    // Immediate transaction: two processes opening the same file apply each migration once.
    db.transaction(() => {
      checkNotNewer();
      const existing = recorded.get(migration.version);
      if (existing !== undefined) {
        if (existing.name !== migration.name) {
          throw new MigrationMismatchError(
            `Database '${path}' recorded migration ${migration.version} as '${existing.name}', but the code names it '${migration.name}'`,
            { context: { version: migration.version, recorded: existing.name, expected: migration.name } },
          );
        }
        return;
      }
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    }).immediate();
  }
}

function assertWellFormed(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new MigrationMismatchError(
        `Migrations must be numbered 1, 2, 3, ... in order; found version ${migration.version} at position ${index + 1}`,
      );
    }
  });
}
