/**
 * Process exit codes of the `trellis` CLI. They are part of its interface: scripts and CI jobs
 * branch on them, so a code never changes meaning.
 */
export const ExitCode = {
  /** The command did what was asked (a valid manifest, a compatible diff, …). */
  Ok: 0,
  /** The command ran and its answer is "no": an invalid manifest or a breaking change. */
  Failed: 1,
  /** The command could not run: bad usage, or an input file that is unreadable or not JSON. */
  Usage: 2,
  /** A bug in the CLI: an unexpected exception. */
  Internal: 3,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** What exit codes 1 and 2 mean for one command, for {@link exitCodesHelp}. */
export interface ExitCodeMeanings {
  /** What exit code 1 means; without it, exit code 1 is not listed (the command never uses it). */
  failed?: string;
  /** Extra causes of exit code 2, besides usage errors and unreadable or non-JSON input. */
  usage?: string;
}

/** Help text (for `addHelpText("after", …)`) listing the exit codes of a command. */
export function exitCodesHelp(meanings: ExitCodeMeanings = {}): string {
  const lines = ["", "Exit codes:", `  ${ExitCode.Ok}  success`];
  if (meanings.failed) lines.push(`  ${ExitCode.Failed}  ${meanings.failed}`);
  const usage = "usage error, or an input file that cannot be read or is not valid JSON";
  lines.push(
    `  ${ExitCode.Usage}  ${meanings.usage ? `${usage}, ${meanings.usage}` : usage}`,
    `  ${ExitCode.Internal}  internal error (a bug in trellis)`,
  );
  return lines.join("\n");
}
