/**
 * Where the CLI keeps its sign-in: `$XDG_CONFIG_HOME/trellis/` (default `~/.config/trellis/`, folder
 * mode 0700) holds `admin-session.json` (mode 0600):
 *
 *     { "format": "trellis.cli.session.v1", "trellisUrl", "sessionKeySeed", "sessionKey",
 *       "contractId", "contractDigest", "user": { "userId", "name", "identity"? }, "savedAt" }
 *
 * The seed is the session's private key: whoever reads the file can act as the signed-in user, so it
 * is written atomically (a temporary file in the same folder, created 0600, then renamed). The NATS
 * sentinel credentials are not stored: each connect gets them from `POST /bootstrap/client`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { CliError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";

/** Name of the session file in the CLI's config folder. */
export const SESSION_FILE = "admin-session.json";

const SavedSessionSchema = z.object({
  format: z.literal("trellis.cli.session.v1"),
  trellisUrl: z.string().min(1),
  sessionKeySeed: z.string().min(1),
  sessionKey: z.string().min(1),
  contractId: z.string().min(1),
  contractDigest: z.string().min(1),
  user: z.object({
    userId: z.string().min(1),
    name: z.string(),
    identity: z.string().optional(),
  }),
  savedAt: z.string().min(1),
});

/** A saved CLI session. */
export type SavedSession = z.infer<typeof SavedSessionSchema>;

/**
 * The CLI's config folder: `$XDG_CONFIG_HOME/trellis`, or `~/.config/trellis` when the variable is
 * unset, empty or relative (the XDG base directory rules ignore relative paths).
 */
export function cliConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), ".config");
  return join(base, "trellis");
}

/** The path of the session file in `dir`. */
export function sessionFile(dir: string): string {
  return join(dir, SESSION_FILE);
}

/** The saved session, or `undefined` when there is none; a damaged file is a {@link CliError}. */
export function readSession(dir: string): SavedSession | undefined {
  const file = sessionFile(dir);
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw damaged(file, cause instanceof Error ? cause.message : String(cause));
  }
  const session = SavedSessionSchema.safeParse(parsed);
  if (!session.success) throw damaged(file, session.error.issues[0]?.message ?? "unexpected content");
  return session.data;
}

function damaged(file: string, reason: string): CliError {
  return new CliError(
    "invalid-session-file",
    `'${file}' is not a trellis session file (${reason}); delete it and run 'trellis login'`,
    { exitCode: ExitCode.Failed, details: { file } },
  );
}

/** Saves `session` in `dir` (created 0700 when missing), replacing any earlier one; returns the file. */
export function writeSession(dir: string, session: SavedSession): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = sessionFile(dir);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 });
  // `mode` applies only when the file is created; make sure a leftover temporary file is private too.
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  return file;
}

/** Deletes the saved session; `false` when there was none. */
export function deleteSession(dir: string): boolean {
  const file = sessionFile(dir);
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}
