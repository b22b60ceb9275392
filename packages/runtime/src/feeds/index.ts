/** Feeds: live request/stream surfaces (runtime spec §1.3). */
export * from "./client.js";
export * from "./frames.js";
export * from "./server.js";
