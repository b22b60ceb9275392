/** `trellis version`: the CLI version (also `trellis --version`). */
import type { Command } from "@commander-js/extra-typings";
import type { CommandContext } from "../context.js";
import { exitCodesHelp } from "../exit-codes.js";

/** Adds `version` to `program`. */
export function registerVersionCommand(program: Command, context: CommandContext): void {
  program
    .command("version")
    .description("print the trellis CLI version")
    .addHelpText("after", exitCodesHelp())
    .action(() => {
      const { name, version } = context.packageInfo;
      context.output().report({ json: { name, version }, text: [version] });
    });
}
