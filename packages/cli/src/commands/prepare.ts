/**
 * `trellis prepare` (discover contracts, write `generated/`; `--check` for CI; `--watch` while
 * editing) and `trellis generate manifest|sdk` (one artifact from one contract).
 */
import { type Command, Option } from "@commander-js/extra-typings";
import {
  checkPrepared,
  describeRun,
  GenerateError,
  prepare,
  problemLines,
  resolveContract,
  watchPrepare,
  writeManifestArtifact,
  writeSdkArtifact,
} from "@trellis/codegen";
import type { CommandContext } from "../context.js";
import { CliError } from "../errors.js";
import { ExitCode, exitCodesHelp } from "../exit-codes.js";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

function milliseconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0)
    throw new CliError("invalid-option", `'${value}' is not a number of ms`);
  return parsed;
}

/** Runs `work` with a signal that Ctrl-C (or SIGTERM) aborts. */
async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  for (const signal of SIGNALS) process.on(signal, onSignal);
  try {
    return await work(interrupt.signal);
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}

async function loadContract(options: { source?: string; manifest?: string; loadTimeout?: number }) {
  try {
    return await resolveContract({
      ...(options.source !== undefined && { source: options.source }),
      ...(options.manifest !== undefined && { manifest: options.manifest }),
      ...(options.loadTimeout !== undefined && { loadTimeoutMs: options.loadTimeout }),
    });
  } catch (error) {
    if (error instanceof GenerateError)
      throw new CliError("invalid-contract", error.message, { exitCode: ExitCode.Failed });
    throw error;
  }
}

/** Adds `prepare` and `generate` to `program`. */
export function registerPrepareCommands(program: Command, context: CommandContext): void {
  program
    .command("prepare")
    .description(
      "discover contracts and write their manifests, scope summaries and SDK packages under generated/",
    )
    .argument("[root]", "folder to discover contracts in", ".")
    .option("--out <dir>", "output root (default: the nearest folder with .git)")
    .option("--check", "write nothing; exit 1 and list the stale files when generated/ is not up to date")
    .option("--watch", "prepare, then prepare again when contract sources change (Ctrl-C to stop)")
    .option("--changes", "with --watch: explain each change and decision")
    .addOption(
      new Option("--load-timeout <ms>", "bound on loading one contract module").argParser(milliseconds),
    )
    .addHelpText(
      "after",
      [
        "",
        "Output: prepared <N> contracts: wrote <N> files, removed <N>  (json: {contracts, written, removed, problems})",
        "  --check: the stale files, one per line  (json: {upToDate, stale, problems, contracts})",
        "  --watch: progress lines on stderr",
        exitCodesHelp({ failed: "a contract could not be prepared, or (--check) generated/ is stale" }),
      ].join("\n"),
    )
    .action(async (root, options) => {
      if (options.changes && !options.watch) throw new CliError("invalid-option", "--changes needs --watch");
      if (options.check && options.watch)
        throw new CliError("invalid-option", "--check and --watch exclude each other");
      const output = context.output();
      const settings = {
        root,
        ...(options.out !== undefined && { out: options.out }),
        ...(options.loadTimeout !== undefined && { loadTimeoutMs: options.loadTimeout }),
      };
      if (options.watch) {
        await withInterrupt((signal) =>
          watchPrepare({
            ...settings,
            changes: options.changes === true,
            signal,
            log: (line) => output.progress([line], { message: line }),
          }),
        );
        return;
      }
      if (options.check) {
        const report = await withInterrupt((signal) => checkPrepared(settings, signal));
        const upToDate = report.stale.length === 0 && report.problems.length === 0;
        output.report({
          json: { upToDate, stale: report.stale, problems: report.problems, contracts: report.contracts },
          text: report.stale,
          notes: [
            ...problemLines(report.problems),
            upToDate
              ? `generated/ is up to date (${report.contracts.length} contracts)`
              : report.stale.length > 0
                ? `generated/ is not up to date (${report.stale.length} stale files); run 'trellis prepare'`
                : "generated/ cannot be checked while contracts fail to prepare",
          ],
        });
        if (!upToDate) context.setExitCode(ExitCode.Failed);
        return;
      }
      const report = await withInterrupt((signal) => prepare(settings, signal));
      output.report({
        json: report,
        text: [describeRun(report)],
        notes: problemLines(report.problems),
      });
      if (report.problems.length > 0) context.setExitCode(ExitCode.Failed);
    });

  const generate = program
    .command("generate")
    .description("generate one artifact (manifest or SDK package) from one contract")
    .addHelpText("after", exitCodesHelp({ failed: "the contract cannot be loaded or is invalid" }));

  generate
    .command("manifest")
    .description("write the canonical manifest of a contract to <out>/<id>.json")
    .option("--source <file>", "contract source module")
    .option("--manifest <file>", "contract manifest (JSON file)")
    .requiredOption("--out <dir>", "output folder")
    .addOption(
      new Option("--load-timeout <ms>", "bound on loading the source module").argParser(milliseconds),
    )
    .addHelpText(
      "after",
      `\nOutput: <digest> <file>  (json: {id, digest, file})\n${exitCodesHelp({ failed: "the contract cannot be loaded or is invalid" })}`,
    )
    .action(async (options) => {
      const contract = await loadContract(options);
      const file = writeManifestArtifact(contract, options.out);
      context.output().report({
        json: { id: contract.manifest.id, digest: contract.digest, file },
        text: [`${contract.digest} ${file}`],
      });
    });

  generate
    .command("sdk")
    .description("write the npm SDK package of a service or app contract into <out>")
    .option("--source <file>", "contract source module")
    .option("--manifest <file>", "contract manifest (JSON file)")
    .requiredOption("--out <dir>", "package folder")
    .option("--artifact-version <version>", "package version (default: the nearest package.json's)")
    .option("--package-name <name>", "package name (default: <prefix><lineage with . as ->)")
    .option("--prefix <scope>", "npm scope of SDK package names", "@trellis-sdk/")
    .addOption(
      new Option("--load-timeout <ms>", "bound on loading the source module").argParser(milliseconds),
    )
    .addHelpText(
      "after",
      `\nOutput: <package name> <out>  (json: {id, digest, packageName, out, written})\n${exitCodesHelp({ failed: "the contract cannot be loaded, is invalid, or has no SDK" })}`,
    )
    .action(async (options) => {
      const contract = await loadContract(options);
      let result: { packageName: string; files: string[] };
      try {
        result = writeSdkArtifact(contract, options.out, {
          prefix: options.prefix,
          ...(options.artifactVersion !== undefined && { artifactVersion: options.artifactVersion }),
          ...(options.packageName !== undefined && { packageName: options.packageName }),
        });
      } catch (error) {
        if (error instanceof GenerateError)
          throw new CliError("no-sdk", error.message, { exitCode: ExitCode.Failed });
        throw error;
      }
      context.output().report({
        json: {
          id: contract.manifest.id,
          digest: contract.digest,
          packageName: result.packageName,
          out: options.out,
          written: result.files,
        },
        text: [`${result.packageName} ${options.out}`],
      });
    });
}
