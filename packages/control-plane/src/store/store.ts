/**
 * The control-plane store: one SQLite connection and its repositories.
 */
import { AccountFlowsRepository } from "./account-flows-repository.js";
import {
  AuthorityPlansRepository,
  DeploymentAuthoritiesRepository,
  ImplementationOffersRepository,
} from "./authority-repository.js";
import { CapabilityGroupsRepository } from "./capability-groups-repository.js";
import { type Clock, systemClock } from "./codec.js";
import { ContractsRepository } from "./contracts-repository.js";
import { type OpenDatabaseOptions, openDatabase, type SqliteDatabase } from "./database.js";
import { IdentitiesRepository } from "./identities-repository.js";
import { IdentityGrantsRepository } from "./identity-grants-repository.js";
import { LocalCredentialsRepository } from "./local-credentials-repository.js";
import { MaterializedAuthorityRepository } from "./materialized-repository.js";
import { ServiceDeploymentsRepository } from "./service-deployments-repository.js";
import { ServiceInstancesRepository } from "./service-instances-repository.js";
import { SessionsRepository } from "./sessions-repository.js";
import { UsersRepository } from "./users-repository.js";

/** The repositories over one database. */
export interface ControlPlaneStore {
  readonly db: SqliteDatabase;
  /** The clock the repositories default to. */
  readonly clock: Clock;
  readonly users: UsersRepository;
  readonly identities: IdentitiesRepository;
  readonly localCredentials: LocalCredentialsRepository;
  readonly accountFlows: AccountFlowsRepository;
  readonly capabilityGroups: CapabilityGroupsRepository;
  readonly identityGrants: IdentityGrantsRepository;
  readonly sessions: SessionsRepository;
  readonly contracts: ContractsRepository;
  readonly serviceDeployments: ServiceDeploymentsRepository;
  readonly serviceInstances: ServiceInstancesRepository;
  /** Desired deployment authority and the contract digests each deployment may run. */
  readonly authorities: DeploymentAuthoritiesRepository;
  /** Deployment authority plans. */
  readonly plans: AuthorityPlansRepository;
  /** Implementation offers of service instances. */
  readonly offers: ImplementationOffersRepository;
  /** Materialized authority (reconciliation results) of each deployment. */
  readonly materialized: MaterializedAuthorityRepository;
  /**
   * Runs `fn` in one (immediate) transaction; repository calls inside it join the transaction.
   * `fn` must be synchronous: do async work (password hashing, I/O) before or after.
   */
  transaction<T>(fn: () => T): T;
  /** Closes the connection. */
  close(): void;
}

/** Options of {@link createStore} / {@link openStore}. */
export interface StoreOptions {
  /** Default clock of the repositories (default: the wall clock). */
  clock?: Clock;
}

/** Builds the repositories over an open, migrated database. */
export function createStore(db: SqliteDatabase, options: StoreOptions = {}): ControlPlaneStore {
  const clock = options.clock ?? systemClock;
  return {
    db,
    clock,
    users: new UsersRepository(db, clock),
    identities: new IdentitiesRepository(db, clock),
    localCredentials: new LocalCredentialsRepository(db, clock),
    accountFlows: new AccountFlowsRepository(db, clock),
    capabilityGroups: new CapabilityGroupsRepository(db, clock),
    identityGrants: new IdentityGrantsRepository(db, clock),
    sessions: new SessionsRepository(db, clock),
    contracts: new ContractsRepository(db, clock),
    serviceDeployments: new ServiceDeploymentsRepository(db, clock),
    serviceInstances: new ServiceInstancesRepository(db, clock),
    authorities: new DeploymentAuthoritiesRepository(db, clock),
    plans: new AuthorityPlansRepository(db, clock),
    offers: new ImplementationOffersRepository(db, clock),
    materialized: new MaterializedAuthorityRepository(db, clock),
    transaction: <T>(fn: () => T): T => db.transaction(fn).immediate(),
    close: () => db.close(),
  };
}

/** Opens (and migrates) the database at `path` and builds the store over it. */
export function openStore(path: string, options: StoreOptions & OpenDatabaseOptions = {}): ControlPlaneStore {
  return createStore(openDatabase(path, options), options);
}
