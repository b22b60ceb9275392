/**
 * `@trellis/runtime`: what services, apps and devices run — RPC, events, feeds, KV and state,
 * health and telemetry over NATS. Session keys and proofs are in `@trellis/runtime/auth`.
 *
 * @module
 */
export * from "./auth/caller.js";
export { ServerClock } from "./auth/clock.js";
export * from "./connection/connection.js";
export * from "./errors/decode.js";
export * from "./errors/errors.js";
export * from "./events/index.js";
export * from "./facade/client.js";
export * from "./facade/connect.js";
export * from "./facade/naming.js";
export * from "./facade/service.js";
export * from "./facade/service-connect.js";
export * from "./facade/surfaces.js";
export * from "./feeds/index.js";
export * from "./headers.js";
export * from "./health/index.js";
export * from "./jobs/index.js";
export * from "./kv/index.js";
export * from "./operations/index.js";
export * from "./rpc/authenticator.js";
export * from "./rpc/client.js";
export * from "./rpc/limiter.js";
export * from "./rpc/server.js";
export * from "./rpc/signer.js";
export * from "./rpc/validate-authority.js";
export * from "./state/index.js";
export * from "./telemetry/logger.js";
export * from "./telemetry/metrics.js";
export * from "./telemetry/tracing.js";
export * from "./validation/schemas.js";
