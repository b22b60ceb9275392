/**
 * `@trellis/contracts`: the contract model of Trellis, pure logic with no I/O.
 *
 * - canonical JSON and digests (`canonicalizeJson`, `digestJson`, `digestContractManifest`);
 * - the `trellis.contract.v1` manifest model, validation and normalization;
 * - the authoring API (`defineServiceContract`, `defineAppContract`, `defineAgentContract`,
 *   `defineDeviceContract`, `defineError`) with typed runtime descriptors;
 * - subjects, capabilities and NATS permission derivation;
 * - the compatibility diff between two versions of one contract.
 *
 * @module
 */
export * from "./api.js";
export * from "./canonical.js";
export * from "./capabilities.js";
export * from "./define.js";
export * from "./diff.js";
export * from "./digest.js";
export * from "./errors.js";
export * from "./json-schema.js";
export * from "./manifest.js";
export * from "./normalize.js";
export * from "./permissions.js";
export * from "./problems.js";
export * from "./subjects.js";
export * from "./validate.js";
