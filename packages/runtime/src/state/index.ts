/** Trellis-managed state of apps and devices (runtime spec §5.5). */
export * from "./client.js";
export * from "./namespace.js";
export * from "./server.js";
export * from "./types.js";
