/**
 * The `trellis` commander program. Each command group lives in `commands/` and is added by its
 * `register…` function; they all share one {@link CommandContext}.
 */
import { Command, Option } from "@commander-js/extra-typings";
import { registerContractsCommands } from "./commands/contracts.js";
import { registerDevCommand } from "./commands/dev.js";
import { registerJobsCommands } from "./commands/jobs.js";
import { registerPrepareCommands } from "./commands/prepare.js";
import { registerSessionCommands } from "./commands/session.js";
import { registerVersionCommand } from "./commands/version.js";
import type { CommandContext } from "./context.js";
import { ExitCode, exitCodesHelp } from "./exit-codes.js";
import { type CliIo, OUTPUT_FORMATS, Output, type OutputFormat, processIo } from "./output.js";
import { readPackageInfo } from "./version.js";

/** A built program and the state of its run. */
export interface BuiltProgram {
  /** The commander program; parse it with `exitOverride` semantics (it throws instead of exiting). */
  program: Command;
  /** Shared context of the commands. */
  context: CommandContext;
  /** The format chosen with `--format` (`text` until options are parsed, or when it is invalid). */
  format(): OutputFormat;
  /** The exit code the commands set (0 unless one set another). */
  exitCode(): ExitCode;
}

/**
 * Builds the `trellis` program writing to `io`. Commander never exits the process: errors are
 * thrown as `CommanderError` (see `main`).
 */
export function buildProgram(io: CliIo = processIo): BuiltProgram {
  const packageInfo = readPackageInfo();
  let exitCode: ExitCode = ExitCode.Ok;

  const program = new Command("trellis")
    .description("Trellis command line: contract tools, sign-in, development platform, jobs")
    .addOption(
      new Option("--format <format>", "output format: text for people, json for scripts")
        .choices(OUTPUT_FORMATS)
        .default("text" as const),
    )
    .version(packageInfo.version, "-v, --version", "print the trellis CLI version")
    // Subcommands created with .command() inherit these settings, so they must come first.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      // In json format usage errors are printed by `main` as JSON instead.
      outputError: (text, write) => {
        if (format() === "text") write(text);
      },
    })
    .addHelpText(
      "after",
      `\nGlobal options such as --format may be given anywhere on the command line.\n${exitCodesHelp({
        failed: "a check failed: invalid manifest, breaking change",
      })}`,
    );

  const format = (): OutputFormat => program.opts().format;
  const context: CommandContext = {
    output: () => new Output(io, format()),
    setExitCode: (code) => {
      exitCode = code;
    },
    packageInfo,
  };

  registerVersionCommand(program, context);
  registerContractsCommands(program, context);
  registerPrepareCommands(program, context);
  registerDevCommand(program, context);
  registerSessionCommands(program, context);
  registerJobsCommands(program, context);

  return { program, context, format, exitCode: () => exitCode };
}
