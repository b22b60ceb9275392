/**
 * `trellis contracts …`: offline tools over contract manifest files (digest, validation, canonical
 * JSON, compatibility diff). None of them needs a running Trellis.
 */
import type { Command } from "@commander-js/extra-typings";
import {
  type ContractManifest,
  type ContractProblem,
  canonicalizeJson,
  diffContracts,
  digestContractManifest,
  NonJsonValueError,
  validateContractManifest,
} from "@trellis/contracts";
import type { CommandContext } from "../context.js";
import { CliError } from "../errors.js";
import { ExitCode, exitCodesHelp } from "../exit-codes.js";
import { readJsonFile } from "../json-file.js";

/** One problem as a line: `<path or #>: <message> [<rule>]`. */
export function problemLine(problem: ContractProblem): string {
  return `${problem.path || "#"}: ${problem.message} [${problem.rule}]`;
}

function invalidHeading(file: string, problems: readonly ContractProblem[]): string {
  const count = `${problems.length} problem${problems.length === 1 ? "" : "s"}`;
  return `'${file}' is not a valid contract manifest (${count})`;
}

/** Reads and validates a manifest; an invalid one is a {@link CliError} listing every problem. */
async function loadManifest(file: string): Promise<ContractManifest> {
  const result = validateContractManifest(await readJsonFile(file));
  if (result.ok) return result.value;
  const { problems } = result.error;
  throw new CliError("invalid-manifest", invalidHeading(file, problems), {
    exitCode: ExitCode.Failed,
    details: { file, problems },
    lines: problems.map(problemLine),
  });
}

const INVALID = "the manifest is invalid (every problem is listed on stderr)";

/** Adds `contracts` and its subcommands to `program`. */
export function registerContractsCommands(program: Command, context: CommandContext): void {
  const contracts = program
    .command("contracts")
    .description("inspect, validate and compare contract manifests (offline)")
    .addHelpText("after", exitCodesHelp({ failed: "the manifest is invalid, or the change is breaking" }));

  contracts
    .command("digest")
    .description("validate a contract manifest and print its contract digest")
    .argument("<manifest>", "contract manifest (JSON file)")
    .addHelpText(
      "after",
      `\nOutput: <digest>  (json: {"id", "digest"})\n${exitCodesHelp({ failed: INVALID })}`,
    )
    .action(async (file) => {
      const manifest = await loadManifest(file);
      const digest = digestContractManifest(manifest);
      context.output().report({ json: { id: manifest.id, digest }, text: [digest] });
    });

  contracts
    .command("check")
    .description("validate a contract manifest, listing every problem")
    .argument("<manifest>", "contract manifest (JSON file)")
    .addHelpText(
      "after",
      [
        "",
        "Output: ok <id> <digest>  (json: {valid: true, id, digest})",
        "When invalid, one line per problem on stderr: <path or #>: <message> [<rule>]",
        "  (json: {valid: false, problems: [{path, rule, message}]} on stdout)",
        exitCodesHelp({ failed: "the manifest is invalid" }),
      ].join("\n"),
    )
    .action(async (file) => {
      const result = validateContractManifest(await readJsonFile(file));
      const output = context.output();
      if (result.ok) {
        const { id } = result.value;
        const digest = digestContractManifest(result.value);
        output.report({ json: { valid: true, id, digest }, text: [`ok ${id} ${digest}`] });
        return;
      }
      const { problems } = result.error;
      output.report({
        json: { valid: false, problems },
        notes: [`${invalidHeading(file, problems)}:`, ...problems.map(problemLine)],
      });
      context.setExitCode(ExitCode.Failed);
    });

  contracts
    .command("canonicalize")
    .description("print the canonical JSON of a JSON file (sorted keys, no whitespace)")
    .argument("<file>", "any JSON file")
    .addHelpText(
      "after",
      [
        "",
        "Output: the canonical JSON text and a newline, in both formats (it is JSON already).",
        exitCodesHelp({
          usage: "or the file holds a number canonical JSON cannot represent (-0, out of range)",
        }),
      ].join("\n"),
    )
    .action(async (file) => {
      const value = await readJsonFile(file);
      let text: string;
      try {
        text = canonicalizeJson(value);
      } catch (error) {
        if (!(error instanceof NonJsonValueError)) throw error;
        const at = error.path || "#";
        throw new CliError(
          "not-canonicalizable",
          `'${file}' cannot be canonicalized: ${error.valueKind} at ${at} (canonical JSON has no -0, NaN or infinite numbers)`,
          { details: { file, path: error.path, valueKind: error.valueKind } },
        );
      }
      context.output().report({ json: value, jsonText: text, text: [text] });
    });

  contracts
    .command("diff")
    .description("classify replacing one manifest with another: identical, additive or breaking")
    .argument("<old>", "manifest of the current version (JSON file)")
    .argument("<new>", "manifest of the proposed version (JSON file)")
    .addHelpText(
      "after",
      [
        "",
        "Output: <identical|additive|breaking>: <id> <old digest> -> <new digest>",
        "        then one line per change: '  <additive|breaking> <path>: <message>'",
        "  (json: {classification, changes, breaking, old: {id, digest}, new: {id, digest}})",
        exitCodesHelp({ failed: "the change is breaking, or a manifest is invalid" }),
      ].join("\n"),
    )
    .action(async (oldFile, newFile) => {
      const previous = await loadManifest(oldFile);
      const next = await loadManifest(newFile);
      const diff = diffContracts(previous, next);
      const oldDigest = digestContractManifest(previous);
      const newDigest = digestContractManifest(next);
      const target = previous.id === next.id ? newDigest : `${next.id} ${newDigest}`;
      context.output().report({
        json: {
          ...diff,
          old: { id: previous.id, digest: oldDigest },
          new: { id: next.id, digest: newDigest },
        },
        text: [
          `${diff.classification}: ${previous.id} ${oldDigest} -> ${target}`,
          ...diff.changes.map((change) => `  ${change.kind} ${change.path || "#"}: ${change.message}`),
        ],
      });
      if (diff.classification === "breaking") context.setExitCode(ExitCode.Failed);
    });
}
