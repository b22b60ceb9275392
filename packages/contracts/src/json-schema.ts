/** Emits zod schemas as self-contained JSON Schema documents for manifests (no `$schema`, no `$ref`). */
import { z } from "zod";
import type { JsonSchema } from "./manifest.js";
import { ContractDefinitionError } from "./problems.js";

/** Which side of a value a schema describes: what a sender writes (`input`) or what a reader gets (`output`). */
export type SchemaView = "input" | "output";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Replaces every local `#/$defs/X` reference with the definition itself; recursion is an error. */
function inlineDefinitions(name: string, root: Record<string, unknown>): Record<string, unknown> {
  const defs = isRecord(root.$defs) ? root.$defs : {};
  const resolve = (node: unknown, stack: string[]): unknown => {
    if (Array.isArray(node)) return node.map((item) => resolve(item, stack));
    if (!isRecord(node)) return node;
    const ref = node.$ref;
    if (typeof ref === "string") {
      const match = /^#\/\$defs\/(.+)$/.exec(ref);
      const defName = match?.[1];
      if (ref === "#" || defName === undefined || !(defName in defs)) {
        throw new ContractDefinitionError(
          `schema '${name}' is recursive or self-referencing ('${ref}'); contract schemas must be finite and fully inlined`,
        );
      }
      if (stack.includes(defName)) {
        throw new ContractDefinitionError(
          `schema '${name}' is recursive (through '${defName}'); contract schemas must be finite`,
        );
      }
      const { $ref: _ref, ...siblings } = node;
      const inlined = resolve(defs[defName], [...stack, defName]);
      return isRecord(inlined)
        ? { ...inlined, ...(resolve(siblings, stack) as Record<string, unknown>) }
        : inlined;
    }
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      if (key === "$defs" || key === "$schema") continue;
      out[key] = resolve(child, stack);
    }
    return out;
  };
  return resolve(root, []) as Record<string, unknown>;
}

/**
 * Converts a zod schema to the JSON Schema embedded in a manifest. Objects that only strip unknown
 * keys stay open (no `additionalProperties: false`) so that adding an output field stays compatible;
 * `z.strictObject` keeps it closed. Unrepresentable or recursive schemas are contract errors naming
 * the schema.
 */
export function toManifestJsonSchema(name: string, schema: z.ZodType, view: SchemaView): JsonSchema {
  let emitted: Record<string, unknown>;
  try {
    emitted = z.toJSONSchema(schema, {
      io: view,
      reused: "inline",
      cycles: "ref",
      unrepresentable: "throw",
      target: "draft-2020-12",
      override: ({ zodSchema, jsonSchema }) => {
        const def = zodSchema._zod.def;
        if (
          def.type === "object" &&
          def.catchall === undefined &&
          jsonSchema.additionalProperties === false
        ) {
          delete jsonSchema.additionalProperties;
        }
      },
    }) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ContractDefinitionError) throw error;
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new ContractDefinitionError(`schema '${name}' cannot be represented as JSON Schema: ${reason}`, {
      cause: error,
    });
  }
  return inlineDefinitions(name, emitted);
}
