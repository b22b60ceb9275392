/**
 * `@trellis/control-plane`: the `trellis` platform service — configuration, SQLite store, NATS
 * topology, the auth callout, login flows and the `Auth.*` RPCs.
 *
 * @module
 */
export * from "./auth/user-session.js";
export * from "./callout/callout.js";
export * from "./callout/limiter.js";
export * from "./callout/token.js";
export * from "./callout/user-principals.js";
export * from "./config.js";
export * from "./nats/index.js";
export * from "./store/store.js";
