/**
 * `@trellis/example-orders`: the orders example — its service contract, handlers, agent and the
 * scripted demo that `trellis dev` runs.
 *
 * @module
 */
export * from "./agent.js";
export * from "./agent-contract.js";
export * from "./config.js";
export * from "./contract.js";
export * from "./demo.js";
export * from "./run-service.js";
export * from "./service.js";
