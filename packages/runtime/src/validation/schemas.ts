/**
 * Runtime payload validation against a manifest's embedded JSON Schemas, so that a module defined with
 * zod and a generated SDK module (JSON Schema only) validate identically.
 */
import type { ContractManifest, JsonSchema } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsPlugin from "ajv-formats";
import { ValidationError, type ValidationIssue } from "../errors/errors.js";

// ajv-formats is CommonJS; its callable is the module itself or its `default`.
const addFormats = ((addFormatsPlugin as { default?: unknown }).default ?? addFormatsPlugin) as (
  ajv: Ajv2020,
) => void;

/** Compiled validators for the schemas of one manifest, created lazily and kept. */
export class SchemaSet {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly schemas: Readonly<Record<string, JsonSchema>>) {
    this.ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: true, validateFormats: true });
    addFormats(this.ajv);
  }

  /** The schema set of a manifest. */
  static of(manifest: ContractManifest): SchemaSet {
    return new SchemaSet(manifest.schemas ?? {});
  }

  private validator(name: string): ValidateFunction {
    let fn = this.compiled.get(name);
    if (!fn) {
      const schema = this.schemas[name];
      if (schema === undefined) throw new Error(`schema '${name}' is not in the contract`);
      fn = this.ajv.compile(schema);
      this.compiled.set(name, fn);
    }
    return fn;
  }

  /** Validates `value` against schema `name` (applying defaults); the value itself on success. */
  validate<T = unknown>(name: string, value: unknown): Result<T, ValidationError> {
    const fn = this.validator(name);
    if (fn(value)) return Result.ok(value as T);
    const issues: ValidationIssue[] = (fn.errors ?? []).map((error) => ({
      path: error.instancePath,
      message:
        error.keyword === "required" && typeof error.params.missingProperty === "string"
          ? `missing required property '${error.params.missingProperty}'`
          : (error.message ?? error.keyword),
    }));
    return Result.err(new ValidationError(issues, { context: { schema: name } }));
  }
}
