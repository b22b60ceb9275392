/**
 * `trellis login <url>`, `trellis whoami`, `trellis logout`: the CLI's own sign-in, kept in
 * `$XDG_CONFIG_HOME/trellis/` (see `session/store.ts`).
 */
import type { Command } from "@commander-js/extra-typings";
import { waitForDetachedFlow } from "@trellis/runtime";
import type { CommandContext } from "../context.js";
import { CliError } from "../errors.js";
import { exitCodesHelp } from "../exit-codes.js";
import { login, logout, type SignedInUser, whoami } from "../session/login.js";

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new CliError("invalid-option", `--timeout must be a whole number of seconds (≥ 1), got '${value}'`);
  }
  return seconds;
}

function userLines(user: SignedInUser): string[] {
  return [
    `User:         ${user.name} (${user.userId})`,
    `Identity:     ${user.identity}`,
    `Capabilities: ${user.capabilities.length > 0 ? user.capabilities.join(", ") : "(none)"}`,
  ];
}

/** Adds `login`, `whoami` and `logout` to `program`. */
export function registerSessionCommands(program: Command, context: CommandContext): void {
  program
    .command("login")
    .description("sign the CLI in to a Trellis control plane (opens a sign-in flow in your browser)")
    .argument("<trellis-url>", "base URL of the control plane, e.g. http://localhost:3000")
    .option("--timeout <seconds>", "how long to wait for the sign-in to be approved", "300")
    .addHelpText(
      "after",
      exitCodesHelp({ failed: "the control plane is unreachable, or the sign-in was refused or timed out" }),
    )
    .action(async (trellisUrl, options) => {
      const timeoutMs = parseSeconds(options.timeout) * 1000;
      const result = await login({
        trellisUrl,
        completeFlow: async (info) => {
          context
            .output()
            .progress(
              [
                "Open this URL in a browser, sign in and approve the Trellis CLI:",
                `  ${info.loginUrl}`,
                "Waiting for approval…",
              ],
              { loginUrl: info.loginUrl, flowId: info.flowId },
            );
          await waitForDetachedFlow(info, { timeoutMs });
        },
      });
      context.output().report({
        text: [`Logged in to ${result.trellisUrl} as ${result.user.name} (${result.user.identity}).`],
        notes: [`Session saved in ${result.file}`],
        json: result,
      });
    });

  program
    .command("whoami")
    .description("show who the CLI is signed in as, asked of the control plane")
    .addHelpText(
      "after",
      exitCodesHelp({ failed: "not logged in, the session has ended, or Trellis is unreachable" }),
    )
    .action(async () => {
      const result = await whoami();
      context.output().report({
        text: [`Trellis:      ${result.trellisUrl}`, ...userLines(result.user)],
        json: result,
      });
    });

  program
    .command("logout")
    .description("end the CLI's session on the control plane and forget it locally")
    .addHelpText(
      "after",
      exitCodesHelp({ failed: "not logged in, or Trellis is unreachable (the session is kept)" }),
    )
    .action(async () => {
      const result = await logout();
      context.output().report({
        text: [
          result.revoked
            ? `Logged out of ${result.trellisUrl}.`
            : `The session at ${result.trellisUrl} had already ended; forgot it locally.`,
        ],
        json: result,
      });
    });
}
