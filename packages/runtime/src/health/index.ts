/** Service health: checks, the `<Service>.Health` RPC and heartbeats (runtime spec §6.3). */
export * from "./heartbeat.js";
export * from "./rpc.js";
export * from "./service-health.js";
export * from "./types.js";
