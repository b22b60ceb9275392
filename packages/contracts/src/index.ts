export * from "./canonical.js";
export * from "./manifest.js";
export * from "./normalize.js";
export * from "./digest.js";
