/** Runs the CLI's `main` in-process for tests, capturing what it writes. */
import { main } from "../../src/index.js";

/** What one in-process run returned and wrote. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `trellis <args>` in-process; `onStderr` sees stderr as it is written. */
export async function runCli(args: readonly string[], onStderr?: (text: string) => void): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(["node", "trellis", ...args], {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
      onStderr?.(text);
    },
  });
  return { code, stdout, stderr };
}
