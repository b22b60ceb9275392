/**
 * Where the CLI writes. Results (data) go to stdout, messages and errors to stderr. This is the only
 * place that decides between the text and the json rendering.
 */
import type { CliError } from "./errors.js";

/** The two output formats chosen with `--format`. */
export const OUTPUT_FORMATS = ["text", "json"] as const;

/** An output format. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The streams the CLI writes to; tests pass their own to capture output. */
export interface CliIo {
  /** Writes `text` as is to standard output. */
  stdout(text: string): void;
  /** Writes `text` as is to standard error. */
  stderr(text: string): void;
}

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (text) => {
    process.stdout.write(text);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
};

/** The result of a command, in both renderings. */
export interface Report {
  /** json format: the value printed on stdout (one line of JSON). */
  json: unknown;
  /**
   * json format: text printed on stdout instead of `JSON.stringify(json)`, for output that must be
   * byte-exact (canonical JSON).
   */
  jsonText?: string;
  /** text format: lines printed on stdout. */
  text?: readonly string[];
  /** text format: lines printed on stderr after `text` (diagnostics that go with the result). */
  notes?: readonly string[];
}

function lines(text: readonly string[]): string {
  return text.map((line) => `${line}\n`).join("");
}

/** Renders results and errors in the chosen format. */
export class Output {
  constructor(
    private readonly io: CliIo,
    /** The chosen format. */
    readonly format: OutputFormat,
  ) {}

  /** Prints a command's result. */
  report(report: Report): void {
    if (this.format === "json") {
      this.io.stdout(`${report.jsonText ?? JSON.stringify(report.json)}\n`);
      return;
    }
    if (report.text && report.text.length > 0) this.io.stdout(lines(report.text));
    if (report.notes && report.notes.length > 0) this.io.stderr(lines(report.notes));
  }

  /**
   * Prints progress a person or script must act on before the command can finish (such as a sign-in
   * URL) on stderr: the `text` lines, or `json` as one line of JSON. stdout stays reserved for results.
   */
  progress(text: readonly string[], json: unknown): void {
    this.io.stderr(this.format === "json" ? `${JSON.stringify(json)}\n` : lines(text));
  }

  /**
   * Prints an error on stderr: `error: <message>` and its extra lines (text) or `{"error": {...}}`
   * (json).
   */
  error(error: CliError): void {
    if (this.format === "json") {
      this.io.stderr(`${JSON.stringify({ error: error.toJSON() })}\n`);
      return;
    }
    const heading = `error: ${error.message}${error.lines.length > 0 ? ":" : ""}`;
    this.io.stderr(lines([heading, ...error.lines]));
  }
}
