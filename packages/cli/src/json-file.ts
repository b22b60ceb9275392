/**
 * Reading JSON input files strictly: a file that cannot be read, is not JSON, or repeats a key in
 * an object (which `JSON.parse` silently resolves by keeping the last value) is refused with a
 * {@link CliError} that names the file.
 */
import { readFile } from "node:fs/promises";
import { CliError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";

const READ_ERRORS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EISDIR: "is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a component of the path is not a directory",
};

function readFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && READ_ERRORS[code]) return READ_ERRORS[code];
  return error instanceof Error ? error.message : String(error);
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

function escapeToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** A key that appears twice in one object. */
export interface DuplicateKey {
  /** The repeated key. */
  key: string;
  /** JSON Pointer of the second occurrence. */
  pointer: string;
  /** Character offset of the second occurrence. */
  offset: number;
}

type Frame =
  | { kind: "object"; keys: Set<string>; key: string; expectKey: boolean }
  | { kind: "array"; index: number };

/** Offset just past the string literal that starts at `start` (a `"`). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\") i += 2;
    else if (ch === '"') return i + 1;
    else i++;
  }
  return i;
}

/**
 * Finds the first key repeated within one object. `text` must be valid JSON (checked with
 * `JSON.parse` first); keys are compared after unescaping, so `"a"` and `"\u0061"` are the same key.
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    const top = stack.at(-1);
    if (ch === '"') {
      const end = stringEnd(text, i);
      if (top?.kind === "object" && top.expectKey) {
        const key = JSON.parse(text.slice(i, end)) as string;
        if (top.keys.has(key)) {
          const segments = stack.map((frame) => (frame.kind === "object" ? frame.key : String(frame.index)));
          segments[segments.length - 1] = key;
          return { key, pointer: segments.map((s) => `/${escapeToken(s)}`).join(""), offset: i };
        }
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
      continue;
    }
    if (ch === "{") stack.push({ kind: "object", keys: new Set(), key: "", expectKey: true });
    else if (ch === "[") stack.push({ kind: "array", index: 0 });
    else if (ch === "}" || ch === "]") stack.pop();
    else if (ch === ",") {
      if (top?.kind === "object") top.expectKey = true;
      else if (top?.kind === "array") top.index++;
    }
    i++;
  }
  return undefined;
}

function syntaxReason(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const position = /at position (\d+)/.exec(message);
  if (position?.[1] === undefined || /line \d+/.test(message)) return message;
  const { line, column } = lineAndColumn(text, Number(position[1]));
  return `${message} (line ${line} column ${column})`;
}

/**
 * Parses JSON text strictly (see the module doc). `source` names the text in error messages.
 * A leading byte order mark is ignored.
 */
export function parseJsonStrict(text: string, source: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const invalid = (reason: string) =>
    new CliError("invalid-json", `'${source}' is not valid JSON: ${reason}`, {
      exitCode: ExitCode.Usage,
      details: { file: source, reason },
    });
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw invalid(syntaxReason(body, error));
  }
  const duplicate = findDuplicateKey(body);
  if (duplicate) {
    const { line, column } = lineAndColumn(body, duplicate.offset);
    throw invalid(
      `duplicate key ${JSON.stringify(duplicate.key)} at '${duplicate.pointer}' (line ${line} column ${column})`,
    );
  }
  return value;
}

/** Reads and strictly parses a JSON file; `path` is shown as given in error messages. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const reason = readFailure(error);
    throw new CliError("cannot-read", `cannot read '${path}': ${reason}`, {
      exitCode: ExitCode.Usage,
      details: { file: path, reason },
      cause: error,
    });
  }
  return parseJsonStrict(text, path);
}
