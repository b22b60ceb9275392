/** Runs the CLI once and turns every outcome into an exit code. */
import { CommanderError } from "@commander-js/extra-typings";
import { CliError, internalError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";
import { type CliIo, processIo } from "./output.js";
import { buildProgram } from "./program.js";

/**
 * Runs `trellis` with `argv` (as in `process.argv`: node, script, then the arguments) writing to
 * `io`, and returns the exit code. It never calls `process.exit`.
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const built = buildProgram(io);
  try {
    await built.program.parseAsync(argv, { from: "node" });
    return built.exitCode();
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; everything else commander reports is a usage error.
      if (error.exitCode === 0) return ExitCode.Ok;
      // Commander already printed text-format errors; `commander.help` means help was shown instead.
      if (built.format() === "json" && error.code !== "commander.help") {
        const message = error.message.replace(/^error: /, "");
        built.context
          .output()
          .error(new CliError("usage", message, { details: { commanderCode: error.code } }));
      }
      return ExitCode.Usage;
    }
    const cliError = error instanceof CliError ? error : internalError(error);
    built.context.output().error(cliError);
    return cliError.exitCode;
  }
}
