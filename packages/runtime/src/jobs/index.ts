export * from "./errors.js";
export * from "./model.js";
export * from "./ref.js";
export * from "./runtime.js";
export * from "./state.js";
export * from "./store.js";
export type { ActiveJob } from "./worker.js";
