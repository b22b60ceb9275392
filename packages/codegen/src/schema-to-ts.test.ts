import { describe, expect, it } from "vitest";
import { schemaToTs } from "./schema-to-ts.js";

const flat = (type: string) => type.replace(/\s+/g, " ");

describe("schemaToTs", () => {
  it.each([
    [true, "unknown"],
    [false, "never"],
    [{}, "unknown"],
    [{ const: "a" }, '"a"'],
    [{ const: { a: [1, null] } }, "{ a: [1, null]; }"],
    [{ enum: ["a", 1, null] }, '"a" | 1 | null'],
    [{ type: "string" }, "string"],
    [{ type: "integer" }, "number"],
    [{ type: ["string", "null"] }, "string | null"],
    [{ anyOf: [{ type: "string" }, { type: "null" }] }, "string | null"],
    [{ oneOf: [{ const: "a" }, { const: "b" }] }, '"a" | "b"'],
    [
      {
        allOf: [
          { type: "object", properties: { a: { type: "string" } }, required: ["a"] },
          { type: "object" },
        ],
      },
      "{ a: string; } & Record<string, unknown>",
    ],
    [{ type: "array", items: { type: "number" } }, "Array<number>"],
    [{ type: "array" }, "unknown[]"],
    [
      { type: "array", prefixItems: [{ type: "string" }, { type: "number" }], items: false },
      "[string, number]",
    ],
    [{ type: "array", prefixItems: [{ type: "string" }] }, "[string, ...Array<unknown>]"],
    [{ type: "object", additionalProperties: { type: "number" } }, "{ [key: string]: number; }"],
    [{ type: "object", patternProperties: { "^a": { type: "boolean" } } }, "{ [key: string]: boolean; }"],
    [{ type: "object", additionalProperties: false }, "Record<string, unknown>"],
    [
      { type: "object", properties: { a: { type: "string" } }, additionalProperties: {} },
      "{ a?: string; } & { [key: string]: unknown; }",
    ],
    [
      {
        type: "object",
        properties: { "a-b": { type: "string", description: "A field." } },
        required: ["a-b"],
      },
      '{ /** A field. */ "a-b": string; }',
    ],
    [{ not: { type: "string" } }, "unknown"],
  ])("maps %j to %s", (schema, expected) => {
    expect(flat(schemaToTs(schema as never))).toBe(expected);
  });

  it("names nested schemas the lookup knows, but never the schema itself", () => {
    const item = { type: "object", properties: { id: { type: "string" } }, required: ["id"] };
    const named = (schema: unknown) => (schema === item ? "Item" : undefined);
    expect(flat(schemaToTs(item, { named }))).toBe("{ id: string; }");
    expect(flat(schemaToTs({ type: "array", items: item }, { named }))).toBe("Array<Item>");
  });
});
