/**
 * Signing the CLI in and out (auth spec §5.1; journey-cli §3): `login` runs the detached agent flow
 * with the CLI's contract (`trellis.cli@v1`) and saves the session (see `store.ts`); `loginWithPassword`
 * completes the same flow over HTTP with a local username and password (local sign-in, then approval,
 * as a person at the portal would), for tools such as `trellis dev`; `whoami` and `logout` reconnect
 * with the saved session key.
 */
import {
  AuthError,
  type AuthRequiredInfo,
  connectClient,
  drainOrClose,
  TransportError,
  type TrellisClient,
  waitForDetachedFlow,
} from "@trellis/runtime";
import { z } from "zod";
import { CliError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { trellisCli } from "./contract.js";
import {
  cliConfigDir,
  deleteSession,
  readSession,
  type SavedSession,
  sessionFile,
  writeSession,
} from "./store.js";

/** Who the CLI is signed in as (from `Auth.Sessions.Me`). */
export interface SignedInUser {
  /** Trellis user id. */
  userId: string;
  /** Display name. */
  name: string;
  /** The identity signed in with, `<provider>:<subject>` (e.g. `local:admin`). */
  identity: string;
  /** Capabilities delegated to the CLI's session. */
  capabilities: string[];
}

/** The outcome of a login. */
export interface LoginResult {
  /** The control plane's base URL. */
  trellisUrl: string;
  /** The signed-in user. */
  user: SignedInUser;
  /** The saved session file. */
  file: string;
}

/** Options of {@link login}. */
export interface LoginOptions {
  /** Base URL of the control plane. */
  trellisUrl: string;
  /** Completes the sign-in flow: show `loginUrl` and wait for it, or sign in over HTTP. */
  completeFlow: (info: AuthRequiredInfo) => Promise<void>;
  /** Config folder (default {@link cliConfigDir}). */
  configDir?: string;
}

/** Options of {@link loginWithPassword}. */
export interface PasswordLoginOptions {
  /** Base URL of the control plane. */
  trellisUrl: string;
  /** Local username. */
  username: string;
  /** Its password. */
  password: string;
  /** Config folder (default {@link cliConfigDir}). */
  configDir?: string;
}

/** A client connected with the CLI's contract. */
export type CliClient = TrellisClient<typeof trellisCli>;

/** The base URL, checked: `http(s)://…` without a trailing slash. */
export function normalizeTrellisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(
      "invalid-url",
      `'${url}' is not a URL; give the control plane's base URL, e.g. http://localhost:3000`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CliError("invalid-url", `'${url}' is not an http(s) URL`);
  }
  return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, "");
}

/** Turns a failure to sign in, connect or call into a {@link CliError} naming the control plane. */
export function cliErrorOf(error: unknown, trellisUrl: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof TransportError) {
    const code = error.code === "trellis.bootstrap.failed" ? "unreachable" : "connect-failed";
    return new CliError(code, `cannot reach Trellis at ${trellisUrl}: ${error.message}`, {
      exitCode: ExitCode.Failed,
      cause: error,
    });
  }
  if (error instanceof AuthError) {
    return new CliError(
      "auth-failed",
      `${trellisUrl} refused the sign-in: ${error.message} (${error.reason})`,
      {
        exitCode: ExitCode.Failed,
        details: { reason: error.reason },
        cause: error,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError("request-failed", `the call to ${trellisUrl} failed: ${message}`, {
    exitCode: ExitCode.Failed,
    cause: error,
  });
}

/** Asks `Auth.Sessions.Me` who the session belongs to. */
async function me(client: CliClient, trellisUrl: string): Promise<SignedInUser> {
  const reply = await client.rpc.auth.sessionsMe({});
  if (reply.isErr()) throw cliErrorOf(reply.error, trellisUrl);
  const user = reply.value.user;
  if (user === null) {
    throw new CliError("not-a-user", `the session at ${trellisUrl} is not a user's session`, {
      exitCode: ExitCode.Failed,
    });
  }
  return {
    userId: user.userId,
    name: user.name,
    identity: `${user.identity.provider}:${user.identity.subject}`,
    capabilities: user.capabilities,
  };
}

/** Signs the CLI in with a new session key, saves the session and returns who signed in. */
export async function login(options: LoginOptions): Promise<LoginResult> {
  const trellisUrl = normalizeTrellisUrl(options.trellisUrl);
  const dir = options.configDir ?? cliConfigDir();
  let client: (CliClient & { sessionKeySeed: string }) | undefined;
  try {
    client = await connectClient({
      trellisUrl,
      contract: trellisCli,
      onAuthRequired: options.completeFlow,
      logger: false,
    });
    const user = await me(client, trellisUrl);
    const session: SavedSession = {
      format: "trellis.cli.session.v1",
      trellisUrl,
      sessionKeySeed: client.sessionKeySeed,
      sessionKey: client.sessionKey,
      contractId: trellisCli.CONTRACT_ID,
      contractDigest: trellisCli.CONTRACT_DIGEST,
      user: { userId: user.userId, name: user.name, identity: user.identity },
      savedAt: new Date().toISOString(),
    };
    return { trellisUrl, user, file: writeSession(dir, session) };
  } catch (error) {
    throw cliErrorOf(error, trellisUrl);
  } finally {
    if (client) await drainOrClose(client.nc);
  }
}

const FlowStateSchema = z.object({ status: z.string() }).loose();
const RefusalSchema = z.object({ reason: z.string(), message: z.string().optional() }).loose();

async function postJson(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

function refusal(body: unknown, status: number): string {
  const parsed = RefusalSchema.safeParse(body);
  if (!parsed.success) return `HTTP ${status}`;
  return parsed.data.message ? `${parsed.data.message} (${parsed.data.reason})` : parsed.data.reason;
}

/**
 * Completes a login flow over HTTP as `username`: local sign-in, then approval of the flow's contract
 * (the CLI's, or any app or agent contract) when the portal asks for it, then waits until the flow
 * redirects. Usable as the `onAuthRequired` of `connectClient`.
 */
export async function completeWithPassword(
  info: AuthRequiredInfo,
  username: string,
  password: string,
): Promise<void> {
  const signIn = await postJson(`${info.trellisUrl}/auth/login/local`, {
    flowId: info.flowId,
    username,
    password,
  });
  if (signIn.status !== 200) {
    throw new CliError(
      "invalid-credentials",
      `${info.trellisUrl} refused the local sign-in of '${username}': ${refusal(signIn.body, signIn.status)}`,
      { exitCode: ExitCode.Failed },
    );
  }
  const response = await fetch(`${info.trellisUrl}/auth/flow/${encodeURIComponent(info.flowId)}`, {
    signal: AbortSignal.timeout(10_000),
  });
  const state = FlowStateSchema.safeParse(await response.json().catch(() => undefined));
  const status = state.success ? state.data.status : `HTTP ${response.status}`;
  if (status === "approval_required") {
    const approval = await postJson(
      `${info.trellisUrl}/auth/flow/${encodeURIComponent(info.flowId)}/approval`,
      {
        approved: true,
      },
    );
    if (approval.status !== 200) {
      throw new CliError(
        "approval-failed",
        `${info.trellisUrl} refused to approve the contract for '${username}': ${refusal(approval.body, approval.status)}`,
        { exitCode: ExitCode.Failed },
      );
    }
  } else if (status !== "redirect") {
    throw new CliError(
      "approval-failed",
      `the sign-in of '${username}' cannot approve the contract: the flow is '${status}'`,
      { exitCode: ExitCode.Failed, details: { flowStatus: status } },
    );
  }
  await waitForDetachedFlow(info, { pollIntervalMs: 250, timeoutMs: 10_000 });
}

/** Signs the CLI in with a local username and password (no browser) and saves the session. */
export function loginWithPassword(options: PasswordLoginOptions): Promise<LoginResult> {
  return login({
    trellisUrl: options.trellisUrl,
    completeFlow: (info) => completeWithPassword(info, options.username, options.password),
    ...(options.configDir !== undefined && { configDir: options.configDir }),
  });
}

/** Thrown from the sign-in callback when a saved session turns out to be gone. */
class SessionGone extends Error {}

function notLoggedIn(dir: string): CliError {
  return new CliError("not-logged-in", "not logged in; run 'trellis login <url>' first", {
    exitCode: ExitCode.Failed,
    details: { file: sessionFile(dir) },
  });
}

function sessionEnded(session: SavedSession): CliError {
  return new CliError(
    "session-ended",
    `the saved session for ${session.trellisUrl} has ended (logged out, revoked or expired); run 'trellis login ${session.trellisUrl}'`,
    { exitCode: ExitCode.Failed, details: { trellisUrl: session.trellisUrl } },
  );
}

/** Connects with the saved session; `undefined` when the control plane no longer knows it. */
async function reconnect(session: SavedSession): Promise<CliClient | undefined> {
  try {
    return await connectClient({
      trellisUrl: session.trellisUrl,
      contract: trellisCli,
      sessionKeySeed: session.sessionKeySeed,
      onAuthRequired: () => Promise.reject(new SessionGone()),
      logger: false,
    });
  } catch (error) {
    if (error instanceof SessionGone) return undefined;
    throw cliErrorOf(error, session.trellisUrl);
  }
}

/**
 * Runs `fn` with a client connected as the saved session (`not-logged-in` without one,
 * `session-ended` when the control plane no longer knows it) and closes the connection afterwards.
 */
export async function withSavedSession<T>(
  fn: (client: CliClient, session: SavedSession) => Promise<T>,
  options: { configDir?: string } = {},
): Promise<T> {
  const dir = options.configDir ?? cliConfigDir();
  const session = readSession(dir);
  if (session === undefined) throw notLoggedIn(dir);
  const client = await reconnect(session);
  if (client === undefined) throw sessionEnded(session);
  try {
    return await fn(client, session);
  } finally {
    await drainOrClose(client.nc);
  }
}

/** What `whoami` reports. */
export interface WhoAmI {
  /** The control plane's base URL. */
  trellisUrl: string;
  /** The signed-in user. */
  user: SignedInUser;
}

/** Who the saved session belongs to, asked of the control plane. */
export function whoami(options: { configDir?: string } = {}): Promise<WhoAmI> {
  return withSavedSession(
    async (client, session) => ({
      trellisUrl: session.trellisUrl,
      user: await me(client, session.trellisUrl),
    }),
    options,
  );
}

/** What `logout` did. */
export interface LogoutResult {
  /** The control plane's base URL. */
  trellisUrl: string;
  /** `true` when the control plane ended the session; `false` when it had already ended. */
  revoked: boolean;
  /** The deleted session file. */
  file: string;
}

/**
 * Ends the saved session (`Auth.Sessions.Logout`), then deletes it locally. When the control plane
 * cannot be reached the local session is kept, so that the logout can be retried.
 */
export async function logout(options: { configDir?: string } = {}): Promise<LogoutResult> {
  const dir = options.configDir ?? cliConfigDir();
  const session = readSession(dir);
  if (session === undefined) throw notLoggedIn(dir);
  const client = await reconnect(session);
  let revoked = false;
  if (client !== undefined) {
    try {
      const reply = await client.rpc.auth.sessionsLogout({});
      if (reply.isErr()) throw cliErrorOf(reply.error, session.trellisUrl);
      revoked = reply.value.success;
    } finally {
      // The control plane kicks the connection right after answering; closing first is tidier.
      await client.nc.close().catch(() => undefined);
    }
  }
  deleteSession(dir);
  return { trellisUrl: session.trellisUrl, revoked, file: sessionFile(dir) };
}
