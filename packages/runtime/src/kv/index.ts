/** Service KV resources (runtime spec §5.1). */
export * from "./bindings.js";
export * from "./keys.js";
export * from "./typed.js";
