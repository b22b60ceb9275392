/**
 * `@trellis/codegen`: discovers contract sources, loads them safely, and generates their artifacts
 * (canonical manifests, auth scope summaries, npm SDK packages) — `trellis prepare` and
 * `trellis generate`.
 *
 * @module
 */
export * from "./discover.js";
export * from "./environment.js";
export * from "./generate.js";
export * from "./imports.js";
export * from "./load.js";
export * from "./naming.js";
export * from "./prepare.js";
export * from "./schema-to-ts.js";
export * from "./scopes.js";
export * from "./sdk.js";
export * from "./watch.js";
