/**
 * The `trellis.auth@v1`, `trellis.state@v1`, `trellis.core@v1` and `trellis.jobs@v1` RPCs served by the
 * control plane, and the session authority that authenticates their callers straight from the store.
 *
 * @module
 */
export { capabilityCatalog, PLATFORM_CAPABILITIES } from "./capabilities.js";
export {
  CONTROL_PLANE_CONTRACTS,
  type CoreRpcOptions,
  catalogDocument,
  coreHandlers,
  mountCoreRpcs,
  surfaceStatus,
} from "./catalog.js";
export { JOBS_HEALTH_SERVICE, type JobsRpcOptions, jobsHandlers, mountJobsRpcs } from "./jobs.js";
export { mountAuthRpcs } from "./mount.js";
export {
  inboxPrefixOf,
  resolveSessionPrincipal,
  type ServicePrincipal,
  type SessionPrincipal,
  type UserPrincipal,
} from "./principals.js";
export { REPLAY_WINDOW_MS, ReplayCache } from "./replay-cache.js";
export {
  finishRevokedSessions,
  revokeIdentityGrant,
  revokeSession,
  sessionEventIdentity,
} from "./revocation.js";
export { ControlPlaneSessionAuthority, callerOf, notifySessionInvalidated } from "./session-authority.js";
export { mountStateRpcs, type StateRpcOptions, storedStateStores } from "./state.js";
export type { AuthContract, AuthRpcHandler, AuthRpcName } from "./types.js";
export { VALIDATE_IAT_WINDOW_SECONDS, validatedCallerOf, validateRequest } from "./validate.js";
