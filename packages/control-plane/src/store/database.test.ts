import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appliedMigrations, latestSchemaVersion, openDatabase, type SqliteDatabase } from "./database.js";
import { MigrationMismatchError, SchemaTooNewError } from "./errors.js";
import { MIGRATIONS, type Migration } from "./migrations.js";

let dir: string;
let path: string;
const open: SqliteDatabase[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-db-"));
  path = join(dir, "trellis.sqlite");
});

afterEach(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

function tracked(db: SqliteDatabase): SqliteDatabase {
  open.push(db);
  return db;
}

describe("openDatabase", () => {
  it("configures WAL, a 5 s busy timeout and foreign keys", () => {
    const db = tracked(openDatabase(path));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5000);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("applies every migration once and creates the auth tables", () => {
    const db = tracked(openDatabase(path));
    expect(appliedMigrations(db).map((m) => [m.version, m.name])).toEqual(
      MIGRATIONS.map((m) => [m.version, m.name]),
    );
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row) => row.name);
    for (const table of [
      "users",
      "user_identities",
      "local_credentials",
      "account_flows",
      "capability_groups",
      "identity_authorities",
      "identity_grants",
      "sessions",
      "contracts",
      "schema_migrations",
    ]) {
      expect(tables).toContain(table);
    }
  });

  it("is idempotent: reopening applies nothing again and keeps data", () => {
    const first = tracked(openDatabase(path));
    first
      .prepare(
        "INSERT INTO users (id, user_id, name, created_at, updated_at) VALUES ('1', 'usr_1', 'A', 'x', 'x')",
      )
      .run();
    const appliedAt = appliedMigrations(first);
    first.close();
    const second = tracked(openDatabase(path));
    expect(appliedMigrations(second)).toEqual(appliedAt);
    expect(second.prepare("SELECT COUNT(*) AS n FROM users").get()).toEqual({ n: 1 });
  });

  it("applies later migrations to an existing database, each in its own transaction", () => {
    tracked(openDatabase(path)).close();
    const extra: Migration[] = [
      ...MIGRATIONS,
      { version: MIGRATIONS.length + 1, name: "extra", sql: "CREATE TABLE extra (x INTEGER)" },
    ];
    const db = tracked(openDatabase(path, { migrations: extra }));
    expect(appliedMigrations(db).map((m) => m.version)).toEqual(extra.map((m) => m.version));
  });

  it("rolls back a failing migration entirely", () => {
    tracked(openDatabase(path)).close();
    const broken: Migration[] = [
      ...MIGRATIONS,
      {
        version: MIGRATIONS.length + 1,
        name: "broken",
        sql: "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);",
      },
    ];
    expect(() => openDatabase(path, { migrations: broken })).toThrow();
    const db = tracked(openDatabase(path));
    expect(appliedMigrations(db).map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
  });

  it("refuses a database whose schema is newer than the code", () => {
    tracked(openDatabase(path)).close();
    const raw = new Database(path);
    raw
      .prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 'x')")
      .run(latestSchemaVersion() + 1);
    raw.close();
    let error: unknown;
    try {
      openDatabase(path);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect((error as SchemaTooNewError).reason).toBe("schema_too_new");
    const latest = latestSchemaVersion();
    expect((error as SchemaTooNewError).message).toMatch(
      new RegExp(`schema version ${latest + 1}.*only knows versions up to ${latest}`),
    );
  });

  it("refuses a database whose recorded migration name differs", () => {
    tracked(openDatabase(path)).close();
    const renamed: Migration[] = MIGRATIONS.map((m) => ({ ...m, name: `${m.name}_renamed` }));
    expect(() => openDatabase(path, { migrations: renamed })).toThrow(MigrationMismatchError);
  });

  it("rejects migration lists that are not numbered 1, 2, 3, ...", () => {
    const gap: Migration[] = [{ version: 2, name: "x", sql: "SELECT 1" }];
    expect(() => openDatabase(path, { migrations: gap })).toThrow(MigrationMismatchError);
  });
});
