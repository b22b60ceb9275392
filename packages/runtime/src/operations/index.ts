/** Operations: durable, caller-visible async workflows (runtime spec §4). */
export * from "./client.js";
export * from "./errors.js";
export * from "./handle.js";
export * from "./model.js";
export * from "./server.js";
export * from "./store.js";
