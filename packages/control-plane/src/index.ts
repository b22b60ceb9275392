/**
 * `@trellis/control-plane`: the `trellis` platform service — configuration, SQLite store, NATS
 * topology, the auth callout, login flows and the `Auth.*` RPCs.
 *
 * @module
 */
export * from "./auth/user-session.js";
export * from "./callout/callout.js";
export * from "./callout/connections.js";
export * from "./callout/limiter.js";
export * from "./callout/token.js";
export * from "./callout/user-principals.js";
export * from "./config.js";
export * from "./context.js";
export * from "./flows/approval.js";
export * from "./flows/client-session.js";
export * from "./flows/errors.js";
export * from "./flows/login.js";
export * from "./flows/redirects.js";
export * from "./http/index.js";
export * from "./infrastructure.js";
export * from "./jobs/admin.js";
export * from "./jobs/metrics.js";
export * from "./jobs/model.js";
export * from "./jobs/projection.js";
export * from "./jobs/rebuild.js";
export * from "./jobs/reducer.js";
export * from "./jobs/runtime.js";
export * from "./jobs/streams.js";
export * from "./nats/index.js";
export * from "./rpc/index.js";
export * from "./server.js";
export * from "./store/store.js";
export { createLocalUser } from "./users/local-accounts.js";
