/**
 * `contracts`: the global manifest store, keyed by contract digest. Manifests are stored as
 * canonical JSON; the digest is computed here from the manifest, never taken from the caller.
 */
import {
  type ContractManifest,
  ContractManifestSchema,
  canonicalizeJson,
  digestContractManifest,
} from "@trellis/contracts";
import { ulid } from "ulid";
import { type Clock, iso, parseJsonColumn, systemClock } from "./codec.js";
import type { SqliteDatabase } from "./database.js";

/** A stored contract manifest. */
export interface StoredContract {
  digest: string;
  contractId: string;
  displayName: string;
  description: string;
  manifest: ContractManifest;
  installedAt: string;
}

interface ContractRow {
  digest: string;
  contract_id: string;
  display_name: string;
  description: string;
  manifest: string;
  installed_at: string;
}

const COLUMNS = "digest, contract_id, display_name, description, manifest, installed_at";

/** Manifests keep unknown fields on the way back out (the stored JSON is what was digested). */
const StoredManifestSchema = ContractManifestSchema.loose();

function toContract(row: ContractRow): StoredContract {
  return {
    digest: row.digest,
    contractId: row.contract_id,
    displayName: row.display_name,
    description: row.description,
    manifest: parseJsonColumn(StoredManifestSchema, row.manifest, { table: "contracts", column: "manifest" }),
    installedAt: row.installed_at,
  };
}

/** Repository of `contracts`. */
export class ContractsRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Stores a manifest under its digest. Idempotent: storing the same digest again keeps the first
   * row (and its `installedAt`). Returns the stored contract.
   */
  put(manifest: ContractManifest, now: Date = this.clock()): StoredContract {
    const digest = digestContractManifest(manifest);
    this.db
      .prepare(
        `INSERT INTO contracts (id, ${COLUMNS}) VALUES (@id, @digest, @contractId, @displayName, @description,
           @manifest, @installedAt) ON CONFLICT (digest) DO NOTHING`,
      )
      .run({
        id: ulid(),
        digest,
        contractId: manifest.id,
        displayName: manifest.displayName,
        description: manifest.description,
        manifest: canonicalizeJson(manifest),
        installedAt: iso(now),
      });
    const stored = this.get(digest);
    if (stored === undefined) throw new Error(`contract '${digest}' vanished after being written`);
    return stored;
  }

  /** The contract with this digest, or `undefined`. */
  get(digest: string): StoredContract | undefined {
    const row = this.db
      .prepare<[string], ContractRow>(`SELECT ${COLUMNS} FROM contracts WHERE digest = ?`)
      .get(digest);
    return row === undefined ? undefined : toContract(row);
  }

  /** `true` when a manifest with this digest is stored. */
  has(digest: string): boolean {
    return (
      this.db
        .prepare<[string], { one: number }>("SELECT 1 AS one FROM contracts WHERE digest = ?")
        .get(digest) !== undefined
    );
  }

  /** Every stored digest of a contract id, newest first. */
  listByContractId(contractId: string): StoredContract[] {
    return this.db
      .prepare<[string], ContractRow>(
        `SELECT ${COLUMNS} FROM contracts WHERE contract_id = ? ORDER BY installed_at DESC, digest`,
      )
      .all(contractId)
      .map(toContract);
  }

  /** Every stored contract, by contract id then newest first. */
  list(): StoredContract[] {
    return this.db
      .prepare<[], ContractRow>(
        `SELECT ${COLUMNS} FROM contracts ORDER BY contract_id, installed_at DESC, digest`,
      )
      .all()
      .map(toContract);
  }
}
