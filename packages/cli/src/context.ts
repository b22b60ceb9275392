/** What every command gets from the program: output, exit code, package info. */
import type { ExitCode } from "./exit-codes.js";
import type { Output } from "./output.js";
import type { PackageInfo } from "./version.js";

/** Shared services of one CLI run, handed to each command's `register…` function. */
export interface CommandContext {
  /** Output in the format chosen with `--format` (read when called, after options are parsed). */
  output(): Output;
  /** Sets the exit code of the run (an action that completes without calling it exits 0). */
  setExitCode(code: ExitCode): void;
  /** Name and version of the CLI package. */
  readonly packageInfo: PackageInfo;
}
