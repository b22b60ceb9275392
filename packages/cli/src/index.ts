/**
 * `@trellis/cli`: the `trellis` command line. `main` runs it (the `trellis` binary is `bin.ts`),
 * `buildProgram` builds the commander program, for tests and embedding.
 *
 * @module
 */
export type { CommandContext } from "./context.js";
export { CliError, type CliErrorOptions } from "./errors.js";
export { ExitCode } from "./exit-codes.js";
export { main } from "./main.js";
export { type CliIo, OUTPUT_FORMATS, Output, type OutputFormat, processIo, type Report } from "./output.js";
export { type BuiltProgram, buildProgram } from "./program.js";
export { trellisCli } from "./session/contract.js";
export {
  completeWithPassword,
  type LoginOptions,
  type LoginResult,
  type LogoutResult,
  login,
  loginWithPassword,
  logout,
  type PasswordLoginOptions,
  type SignedInUser,
  type WhoAmI,
  whoami,
} from "./session/login.js";
export { cliConfigDir, readSession, type SavedSession, SESSION_FILE } from "./session/store.js";
export { type PackageInfo, readPackageInfo } from "./version.js";
