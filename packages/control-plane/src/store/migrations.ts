/**
 * Versioned schema migrations of the control-plane database (auth spec §4). Append new migrations
 * with the next version; never edit a released one. Each runs in its own transaction and is recorded
 * in `schema_migrations`.
 */

/** One schema migration. */
export interface Migration {
  /** 1, 2, 3, ... without gaps. */
  readonly version: number;
  /** Short stable name, recorded next to the version. */
  readonly name: string;
  /** SQL run in one transaction. */
  readonly sql: string;
}

const AUTH_CORE = `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  email TEXT,
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  capabilities TEXT NOT NULL DEFAULT '[]',
  capability_groups TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX users_email ON users (email COLLATE NOCASE);
CREATE INDEX users_created ON users (created_at, user_id);

CREATE TABLE user_identities (
  id TEXT PRIMARY KEY,
  identity_id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  provider TEXT NOT NULL,
  subject TEXT NOT NULL,
  display_name TEXT,
  email TEXT,
  email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
  linked_at TEXT NOT NULL,
  last_login_at TEXT,
  UNIQUE (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
CREATE UNIQUE INDEX user_identities_one_local ON user_identities (user_id) WHERE provider = 'local';

CREATE TABLE local_credentials (
  id TEXT PRIMARY KEY,
  identity_id TEXT NOT NULL UNIQUE REFERENCES user_identities (identity_id) ON DELETE CASCADE,
  password_hash TEXT NOT NULL,
  password_algorithm TEXT NOT NULL,
  password_params TEXT NOT NULL,
  password_set_at TEXT NOT NULL,
  must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
  failed_login_count INTEGER NOT NULL DEFAULT 0,
  locked_until TEXT
);

CREATE TABLE account_flows (
  id TEXT PRIMARY KEY,
  flow_id_hash TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('admin_bootstrap', 'identity_link', 'local_password_reset')),
  target_user_id TEXT REFERENCES users (user_id) ON DELETE CASCADE,
  target_identity_id TEXT,
  target_local_username TEXT,
  created_by_user_id TEXT,
  allowed_providers TEXT,
  capabilities TEXT,
  profile_hint TEXT,
  return_to TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  consumed_at TEXT
);
CREATE INDEX account_flows_target_user ON account_flows (target_user_id);
CREATE INDEX account_flows_expires ON account_flows (expires_at);

CREATE TABLE capability_groups (
  id TEXT PRIMARY KEY,
  group_key TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  capabilities TEXT NOT NULL DEFAULT '[]',
  included_groups TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE identity_authorities (
  id TEXT PRIMARY KEY,
  identity_authority_id TEXT NOT NULL UNIQUE,
  user_trellis_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  origin TEXT NOT NULL,
  external_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (user_trellis_id, origin, external_id)
);

CREATE TABLE identity_grants (
  id TEXT PRIMARY KEY,
  identity_grant_id TEXT NOT NULL UNIQUE,
  identity_authority_id TEXT NOT NULL REFERENCES identity_authorities (identity_authority_id) ON DELETE CASCADE,
  user_trellis_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  origin TEXT NOT NULL,
  external_id TEXT NOT NULL,
  identity_anchor_kind TEXT NOT NULL CHECK (identity_anchor_kind IN ('web', 'cli', 'native', 'device-user')),
  identity_anchor TEXT NOT NULL,
  evidence_contract_digest TEXT NOT NULL,
  contract_id TEXT NOT NULL,
  participant_kind TEXT NOT NULL,
  answer TEXT NOT NULL CHECK (answer IN ('approved', 'denied')),
  answered_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  approval_evidence TEXT NOT NULL,
  publish_subjects TEXT NOT NULL DEFAULT '[]',
  subscribe_subjects TEXT NOT NULL DEFAULT '[]',
  UNIQUE (user_trellis_id, identity_anchor_kind, identity_anchor)
);
CREATE INDEX identity_grants_authority ON identity_grants (identity_authority_id);

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  session_key TEXT NOT NULL UNIQUE,
  trellis_id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('user', 'service', 'device')),
  origin TEXT,
  external_id TEXT,
  identity_grant_id TEXT,
  contract_digest TEXT,
  contract_id TEXT,
  participant_kind TEXT,
  instance_id TEXT,
  deployment_id TEXT,
  instance_key TEXT,
  public_identity_key TEXT,
  created_at TEXT NOT NULL,
  last_auth TEXT NOT NULL,
  revoked_at TEXT,
  session TEXT NOT NULL
);
CREATE INDEX sessions_principal ON sessions (type, trellis_id);
CREATE INDEX sessions_grant ON sessions (identity_grant_id);
CREATE INDEX sessions_last_auth ON sessions (last_auth);

CREATE TABLE contracts (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL UNIQUE,
  contract_id TEXT NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL,
  manifest TEXT NOT NULL,
  installed_at TEXT NOT NULL
);
CREATE INDEX contracts_contract_id ON contracts (contract_id);
`;

const SERVICE_DEPLOYMENTS = `
CREATE TABLE service_deployments (
  id TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL UNIQUE,
  namespaces TEXT NOT NULL DEFAULT '[]',
  contract_compatibility_mode TEXT NOT NULL DEFAULT 'strict'
    CHECK (contract_compatibility_mode IN ('strict', 'mutable-dev')),
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX service_deployments_created ON service_deployments (created_at, deployment_id);

CREATE TABLE service_instances (
  id TEXT PRIMARY KEY,
  instance_id TEXT NOT NULL UNIQUE,
  deployment_id TEXT NOT NULL REFERENCES service_deployments (deployment_id),
  instance_key TEXT NOT NULL UNIQUE,
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  capabilities TEXT NOT NULL DEFAULT '["service"]',
  resource_bindings TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX service_instances_deployment ON service_instances (deployment_id, created_at, instance_id);
CREATE INDEX service_instances_created ON service_instances (created_at, instance_id);
`;

const DEPLOYMENT_AUTHORITY = `
CREATE TABLE deployment_authorities (
  deployment_id TEXT PRIMARY KEY REFERENCES service_deployments (deployment_id) ON DELETE CASCADE,
  kind TEXT NOT NULL DEFAULT 'service'
    CHECK (kind IN ('service', 'device', 'app', 'cli', 'native', 'device-user')),
  version TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  desired_state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX deployment_authorities_created ON deployment_authorities (created_at, deployment_id);

CREATE TABLE deployment_contracts (
  deployment_id TEXT NOT NULL REFERENCES service_deployments (deployment_id) ON DELETE CASCADE,
  contract_id TEXT NOT NULL,
  contract_digest TEXT NOT NULL REFERENCES contracts (digest),
  activated_at TEXT NOT NULL,
  PRIMARY KEY (deployment_id, contract_digest)
);
CREATE INDEX deployment_contracts_lineage ON deployment_contracts (contract_id, deployment_id);
CREATE INDEX deployment_contracts_digest ON deployment_contracts (contract_digest);

CREATE TABLE deployment_authority_plans (
  plan_id TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL REFERENCES service_deployments (deployment_id) ON DELETE CASCADE,
  contract_id TEXT NOT NULL,
  contract_digest TEXT NOT NULL,
  classification TEXT NOT NULL CHECK (classification IN ('update', 'migration')),
  state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'expired')),
  proposal_json TEXT NOT NULL,
  desired_change_json TEXT NOT NULL,
  materialization_preview_json TEXT NOT NULL,
  warnings_json TEXT NOT NULL DEFAULT '[]',
  acknowledgement_required INTEGER NOT NULL DEFAULT 0 CHECK (acknowledgement_required IN (0, 1)),
  decision_at TEXT,
  decision_by_json TEXT,
  decision_reason TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX deployment_authority_plans_deployment ON deployment_authority_plans (deployment_id, created_at, plan_id);
CREATE INDEX deployment_authority_plans_pending ON deployment_authority_plans (deployment_id, contract_digest, state);
CREATE INDEX deployment_authority_plans_created ON deployment_authority_plans (created_at, plan_id);

CREATE TABLE implementation_offers (
  offer_id TEXT PRIMARY KEY,
  deployment_kind TEXT NOT NULL CHECK (deployment_kind IN ('service', 'device')),
  deployment_id TEXT NOT NULL REFERENCES service_deployments (deployment_id) ON DELETE CASCADE,
  instance_id TEXT REFERENCES service_instances (instance_id) ON DELETE CASCADE,
  contract_id TEXT NOT NULL,
  contract_digest TEXT NOT NULL,
  lineage_key TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('offered', 'accepted', 'stale', 'expired', 'withdrawn')),
  liveness TEXT NOT NULL DEFAULT 'unknown' CHECK (liveness IN ('unknown', 'healthy', 'unhealthy', 'disconnected')),
  first_offered_at TEXT NOT NULL,
  accepted_at TEXT,
  last_refreshed_at TEXT NOT NULL,
  stale_at TEXT,
  expires_at TEXT
);
CREATE INDEX implementation_offers_instance ON implementation_offers (deployment_id, instance_id, contract_digest);
CREATE INDEX implementation_offers_lineage ON implementation_offers (lineage_key, instance_id);
`;

const MATERIALIZED_AUTHORITY = `
CREATE TABLE materialized_authority (
  deployment_id TEXT PRIMARY KEY REFERENCES service_deployments (deployment_id) ON DELETE CASCADE,
  desired_version TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('current', 'pending', 'failed')),
  grants_json TEXT NOT NULL,
  resource_bindings_json TEXT NOT NULL,
  reconciled_at TEXT NOT NULL,
  error TEXT
);
CREATE INDEX materialized_authority_status ON materialized_authority (status, deployment_id);
`;

/**
 * The Jobs admin projection (runtime spec §3.7): one row per job, reduced from the `JOBS` stream by the
 * projector; the latest heartbeat of each job worker; and the projector's bookkeeping. Timestamps are
 * kept as given (ISO) and as epoch nanoseconds for ordering and deadline comparisons; `last_sequence`
 * is the `JOBS` sequence of the last event applied to the row.
 */
const JOBS_PROJECTION = `
CREATE TABLE jobs_projection (
  service TEXT NOT NULL,
  job_type TEXT NOT NULL,
  id TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  updated_at_nanos INTEGER NOT NULL,
  deadline TEXT,
  deadline_nanos INTEGER,
  payload_json TEXT NOT NULL,
  job_json TEXT NOT NULL,
  last_sequence INTEGER NOT NULL,
  PRIMARY KEY (service, job_type, id)
);
CREATE UNIQUE INDEX jobs_projection_id ON jobs_projection (id);
CREATE INDEX jobs_projection_updated ON jobs_projection (updated_at_nanos DESC, service, job_type, id);
CREATE INDEX jobs_projection_state ON jobs_projection (state, updated_at_nanos DESC);
CREATE INDEX jobs_projection_deadline ON jobs_projection (deadline_nanos) WHERE deadline_nanos IS NOT NULL;

CREATE TABLE worker_presence_projection (
  service TEXT NOT NULL,
  job_type TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  concurrency INTEGER,
  version TEXT,
  heartbeat_at TEXT NOT NULL,
  heartbeat_at_nanos INTEGER NOT NULL,
  record_json TEXT NOT NULL,
  PRIMARY KEY (service, job_type, instance_id)
);
CREATE INDEX worker_presence_heartbeat ON worker_presence_projection (heartbeat_at_nanos);

CREATE TABLE projection_metadata (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/** All migrations, in order. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "auth_core", sql: AUTH_CORE },
  { version: 2, name: "service_deployments", sql: SERVICE_DEPLOYMENTS },
  { version: 3, name: "deployment_authority", sql: DEPLOYMENT_AUTHORITY },
  { version: 4, name: "materialized_authority", sql: MATERIALIZED_AUTHORITY },
  { version: 5, name: "jobs_projection", sql: JOBS_PROJECTION },
];
