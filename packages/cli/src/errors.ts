/** Errors a command reports to the user instead of a result. */
import { ExitCode } from "./exit-codes.js";

/** Options of {@link CliError}. */
export interface CliErrorOptions {
  /** Process exit code; {@link ExitCode.Usage} unless given. */
  exitCode?: ExitCode;
  /** Extra fields of the json rendering (`{"error": {code, message, ...details}}`). */
  details?: Record<string, unknown>;
  /** Extra lines printed under the message in the text rendering. */
  lines?: readonly string[];
  /** The underlying error. */
  cause?: unknown;
}

/**
 * An error meant for the person running the CLI: `message` is shown as is, `code` is a stable
 * identifier for scripts (json format), `exitCode` is what the process exits with.
 */
export class CliError extends Error {
  /** Stable identifier, e.g. `cannot-read`, `invalid-json`, `invalid-manifest`, `usage`. */
  readonly code: string;
  /** Process exit code. */
  readonly exitCode: ExitCode;
  /** Extra fields of the json rendering. */
  readonly details: Record<string, unknown>;
  /** Extra lines of the text rendering. */
  readonly lines: readonly string[];

  constructor(code: string, message: string, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CliError";
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.Usage;
    this.details = options.details ?? {};
    this.lines = options.lines ?? [];
  }

  /** The json rendering: `{ code, message, ...details }`. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

/** Wraps an unexpected exception (a bug) so it is reported like any other error. */
export function internalError(error: unknown): CliError {
  const message = error instanceof Error ? error.message : String(error);
  return new CliError("internal", `internal error: ${message}`, {
    exitCode: ExitCode.Internal,
    cause: error,
  });
}
