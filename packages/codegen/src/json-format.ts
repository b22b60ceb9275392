/** Readable, deterministic JSON for files people review: indented, short objects and arrays on one line. */

const LINE_WIDTH = 120;

function inline(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(inline).join(", ")}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}: ${inline(item)}`).join(", ")}}`;
}

function format(value: unknown, indent: string, prefix: number): string {
  const flat = inline(value);
  if (value === null || typeof value !== "object" || prefix + flat.length <= LINE_WIDTH) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return `[\n${value.map((item) => `${inner}${format(item, inner, inner.length)}`).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
  const lines = entries.map(([key, item]) => {
    const head = `${inner}${JSON.stringify(key)}: `;
    return `${head}${format(item, inner, head.length)}`;
  });
  return `{\n${lines.join(",\n")}\n${indent}}`;
}

/** `value` as JSON text with a trailing newline. */
export function formatJson(value: unknown): string {
  return `${format(value, "", 0)}\n`;
}
