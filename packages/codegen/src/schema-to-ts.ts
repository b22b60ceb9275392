/**
 * JSON Schema → TypeScript type text (contracts spec §11): `true` → unknown, `false` → never,
 * `const` → literal, `enum` → union of literals, `allOf` → intersection, `anyOf`/`oneOf` → union,
 * a type array → union, string/number/integer/boolean/null, arrays (items, tuples), objects (optional
 * unless required; `additionalProperties` or a single `patternProperties` entry → index signature),
 * anything else → unknown. Manifest schemas have no `$ref`.
 */

type Schema = Record<string, unknown> | boolean;

/** Options of {@link schemaToTs}. */
export interface SchemaToTsOptions {
  /** Indentation of the type's first line; nested object members are indented from it. */
  indent?: string;
  /** The name of a type to use for a nested schema, when one describes it (exported aliases). */
  named?: (schema: Schema) => string | undefined;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propertyKey(key: string): string {
  return IDENTIFIER.test(key) ? key : JSON.stringify(key);
}

function isSchema(value: unknown): value is Schema {
  return typeof value === "boolean" || (typeof value === "object" && value !== null && !Array.isArray(value));
}

/** The type of a JSON value taken as a literal (`const` and `enum` members). */
function literalType(value: unknown, indent: string): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => literalType(item, indent)).join(", ")}]`;
  const inner = `${indent}  `;
  const entries = Object.entries(value as Record<string, unknown>).map(
    ([key, item]) => `${inner}${propertyKey(key)}: ${literalType(item, inner)};`,
  );
  return entries.length === 0 ? "Record<string, never>" : `{\n${entries.join("\n")}\n${indent}}`;
}

function union(types: string[]): string {
  const unique = [...new Set(types)];
  if (unique.length === 0) return "never";
  return unique.length === 1 ? (unique[0] as string) : unique.map(wrap).join(" | ");
}

function intersection(types: string[]): string {
  const unique = [...new Set(types)].filter((type) => type !== "unknown");
  if (unique.length === 0) return "unknown";
  return unique.length === 1 ? (unique[0] as string) : unique.map(wrap).join(" & ");
}

/** Parenthesizes a type that contains a union or intersection (extra parentheses are harmless). */
function wrap(type: string): string {
  return type.includes(" | ") || type.includes(" & ") ? `(${type})` : type;
}

function objectType(schema: Record<string, unknown>, indent: string, named: Named): string {
  const inner = `${indent}  `;
  const properties = isPlainObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? (schema.required as unknown[]) : []);
  const members = Object.entries(properties).map(([key, value]) => {
    const type = isSchema(value) ? nested(value, inner, named) : "unknown";
    const description =
      isPlainObject(value) && typeof value.description === "string" ? value.description : "";
    const doc = description ? `${inner}/** ${description.replaceAll("*/", "*\\/")} */\n` : "";
    return `${doc}${inner}${propertyKey(key)}${required.has(key) ? "" : "?"}: ${type};`;
  });
  const patterns = isPlainObject(schema.patternProperties) ? Object.values(schema.patternProperties) : [];
  let index: string | undefined;
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) {
    index = isSchema(schema.additionalProperties)
      ? nested(schema.additionalProperties, inner, named)
      : "unknown";
  } else if (patterns.length === 1 && isSchema(patterns[0])) {
    index = nested(patterns[0], inner, named);
  }
  const shape = members.length > 0 ? `{\n${members.join("\n")}\n${indent}}` : undefined;
  const indexShape = index === undefined ? undefined : `{\n${inner}[key: string]: ${index};\n${indent}}`;
  if (shape && indexShape) return `${shape} & ${indexShape}`;
  return shape ?? indexShape ?? "Record<string, unknown>";
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function arrayType(schema: Record<string, unknown>, indent: string, named: Named): string {
  const prefix = Array.isArray(schema.prefixItems) ? (schema.prefixItems as unknown[]) : undefined;
  const items = schema.items;
  if (prefix) {
    const head = prefix.map((item) => (isSchema(item) ? nested(item, indent, named) : "unknown"));
    if (items === false) return `[${head.join(", ")}]`;
    const rest = isSchema(items) ? nested(items, indent, named) : "unknown";
    return `[${[...head, `...Array<${rest}>`].join(", ")}]`;
  }
  if (isSchema(items)) return `Array<${nested(items, indent, named)}>`;
  return "unknown[]";
}

function typeKeywordType(
  type: string,
  schema: Record<string, unknown>,
  indent: string,
  named: Named,
): string {
  switch (type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array":
      return arrayType(schema, indent, named);
    case "object":
      return objectType(schema, indent, named);
    default:
      return "unknown";
  }
}

type Named = SchemaToTsOptions["named"];

/** A nested schema: its name when it has one, else its structure. */
function nested(schema: Schema, indent: string, named: Named): string {
  return named?.(schema) ?? convert(schema, indent, named);
}

function convert(schema: Schema, indent: string, named: Named): string {
  if (schema === true) return "unknown";
  if (schema === false) return "never";
  if ("const" in schema) return literalType(schema.const, indent);
  if (Array.isArray(schema.enum)) return union(schema.enum.map((value) => literalType(value, indent)));

  const parts: string[] = [];
  const types = Array.isArray(schema.type)
    ? schema.type.filter((type): type is string => typeof type === "string")
    : typeof schema.type === "string"
      ? [schema.type]
      : isPlainObject(schema.properties) || schema.additionalProperties !== undefined
        ? ["object"]
        : schema.items !== undefined || schema.prefixItems !== undefined
          ? ["array"]
          : [];
  if (types.length > 0) parts.push(union(types.map((type) => typeKeywordType(type, schema, indent, named))));
  const members = (key: string) =>
    Array.isArray(schema[key]) ? (schema[key] as unknown[]).filter(isSchema) : undefined;
  const allOf = members("allOf");
  if (allOf) parts.push(intersection(allOf.map((item) => nested(item, indent, named))));
  for (const key of ["anyOf", "oneOf"]) {
    const variants = members(key);
    if (variants) parts.push(union(variants.map((item) => nested(item, indent, named))));
  }
  return intersection(parts);
}

/** The TypeScript type text of a JSON Schema (the schema itself is always spelled out). */
export function schemaToTs(schema: Schema, options: SchemaToTsOptions = {}): string {
  return convert(schema, options.indent ?? "", options.named);
}
