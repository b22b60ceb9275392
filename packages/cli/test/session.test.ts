/**
 * `trellis login | whoami | logout` and `loginWithPassword` against the real platform (nats-server
 * with the auth callout, control plane, SQLite), with the CLI's state in a temporary
 * `$XDG_CONFIG_HOME`.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CliError,
  ExitCode,
  loginWithPassword,
  readSession,
  SESSION_FILE,
  trellisCli,
} from "../src/index.js";
import { runCli } from "./support/run.js";

const xdg = mkdtempSync(join(tmpdir(), "trellis-cli-xdg-"));
process.env.XDG_CONFIG_HOME = xdg;
const configDir = join(xdg, "trellis");
const sessionPath = join(configDir, SESSION_FILE);

let platform: PlatformHandle;

beforeAll(async () => {
  platform = await startPlatform();
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  rmSync(xdg, { recursive: true, force: true });
});

async function postJson(url: string, body: unknown): Promise<number> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.status;
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const admin = () => platform.admin!;

describe("loginWithPassword, whoami, logout", () => {
  it("signs in as the admin, whoami prints the admin, logout forgets the session", async () => {
    const result = await loginWithPassword({
      trellisUrl: platform.url,
      username: admin().username,
      password: admin().password,
    });
    expect(result.user).toMatchObject({ name: admin().username, identity: `local:${admin().username}` });
    expect(result.file).toBe(sessionPath);
    expect(statSync(sessionPath).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    expect(readSession(configDir)).toMatchObject({
      trellisUrl: platform.url,
      contractId: "trellis.cli@v1",
      contractDigest: trellisCli.CONTRACT_DIGEST,
      user: { userId: result.user.userId },
    });

    const who = await runCli(["whoami"]);
    expect(who.code).toBe(ExitCode.Ok);
    expect(who.stdout).toContain(`User:         ${admin().username} (${result.user.userId})`);
    expect(who.stdout).toContain(`Identity:     local:${admin().username}`);
    expect(who.stdout).toMatch(/Capabilities: .*admin/);

    const json = await runCli(["whoami", "--format", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      trellisUrl: platform.url,
      user: { userId: result.user.userId, capabilities: expect.arrayContaining(["admin"]) },
    });

    const out = await runCli(["logout"]);
    expect(out.code).toBe(ExitCode.Ok);
    expect(out.stdout).toContain(`Logged out of ${platform.url}.`);
    expect(existsSync(sessionPath)).toBe(false);

    const after = await runCli(["whoami"]);
    expect(after.code).toBe(ExitCode.Failed);
    expect(after.stderr).toContain("not logged in; run 'trellis login <url>' first");
    const again = await runCli(["logout", "--format", "json"]);
    expect(again.code).toBe(ExitCode.Failed);
    expect(JSON.parse(again.stderr).error.code).toBe("not-logged-in");
  });

  it("says the session has ended when the control plane no longer knows it", async () => {
    await loginWithPassword({
      trellisUrl: platform.url,
      username: admin().username,
      password: admin().password,
    });
    const kept = join(xdg, "kept-session.json");
    copyFileSync(sessionPath, kept);
    expect((await runCli(["logout"])).code).toBe(ExitCode.Ok);
    copyFileSync(kept, sessionPath);

    const who = await runCli(["whoami", "--format", "json"]);
    expect(who.code).toBe(ExitCode.Failed);
    expect(JSON.parse(who.stderr).error).toMatchObject({ code: "session-ended", trellisUrl: platform.url });
    // logout still clears the local state, reporting that nothing was left to revoke.
    const out = await runCli(["logout"]);
    expect(out.code).toBe(ExitCode.Ok);
    expect(out.stdout).toContain("had already ended");
    expect(existsSync(sessionPath)).toBe(false);
  });

  it("refuses bad credentials with a clear error and saves nothing", async () => {
    const failure = await loginWithPassword({
      trellisUrl: platform.url,
      username: admin().username,
      password: "not-the-password",
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).code).toBe("invalid-credentials");
    expect((failure as CliError).message).toContain(`refused the local sign-in of '${admin().username}'`);
    expect((failure as CliError).message).toContain("invalid_credentials");
    expect(existsSync(sessionPath)).toBe(false);
  });

  it("refuses a user who lacks the capabilities the CLI's contract needs", async () => {
    await platform.createUser({ username: "carol", password: "carol-password-1" });
    const failure = await loginWithPassword({
      trellisUrl: platform.url,
      username: "carol",
      password: "carol-password-1",
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).code).toBe("approval-failed");
    expect((failure as CliError).message).toContain("the flow is 'insufficient_capabilities'");
    expect(existsSync(sessionPath)).toBe(false);
  });
});

describe("trellis login <url>", () => {
  it("prints the login URL, waits for the flow to be approved, binds and saves the session", async () => {
    let sawUrl: (id: string) => void = () => undefined;
    const urlPrinted = new Promise<string>((resolve) => {
      sawUrl = resolve;
    });
    const running = runCli(["login", platform.url, "--format", "json", "--timeout", "30"], (text) => {
      for (const line of text.split("\n").filter((l) => l.startsWith("{"))) {
        const parsed = JSON.parse(line) as { loginUrl?: string; flowId?: string };
        if (parsed.loginUrl && parsed.flowId) {
          expect(parsed.loginUrl.startsWith(platform.url)).toBe(true);
          sawUrl(parsed.flowId);
        }
      }
    });
    const flowId = await urlPrinted;
    // The person at the portal: local sign-in, then approval of the CLI's contract.
    expect(
      await postJson(`${platform.url}/auth/login/local`, {
        flowId,
        username: admin().username,
        password: admin().password,
      }),
    ).toBe(200);
    expect(await postJson(`${platform.url}/auth/flow/${flowId}/approval`, { approved: true })).toBe(200);

    const result = await running;
    expect(result.code).toBe(ExitCode.Ok);
    expect(JSON.parse(result.stdout)).toMatchObject({
      trellisUrl: platform.url,
      user: { name: admin().username },
      file: sessionPath,
    });
    const who = await runCli(["whoami"]);
    expect(who.stdout).toContain(`Identity:     local:${admin().username}`);
    expect((await runCli(["logout"])).code).toBe(ExitCode.Ok);
  });

  it("fails clearly when the control plane cannot be reached", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await runCli(["login", url, "--format", "json"]);
    expect(result.code).toBe(ExitCode.Failed);
    const error = JSON.parse(result.stderr).error as { code: string; message: string };
    expect(error.code).toBe("unreachable");
    expect(error.message).toContain(`cannot reach Trellis at ${url}`);
    expect(existsSync(sessionPath)).toBe(false);
  });

  it("refuses a URL that is not http(s)", async () => {
    const result = await runCli(["login", "ftp://example.test"]);
    expect(result.code).toBe(ExitCode.Usage);
    expect(result.stderr).toContain("'ftp://example.test' is not an http(s) URL");
  });

  it("times out when nobody approves the flow", async () => {
    const result = await runCli(["login", platform.url, "--format", "json", "--timeout", "1"]);
    expect(result.code).toBe(ExitCode.Failed);
    const lines = result.stderr.trim().split("\n");
    expect(JSON.parse(lines[0] ?? "{}")).toHaveProperty("loginUrl");
    expect(JSON.parse(lines.at(-1) ?? "{}").error).toMatchObject({ code: "auth-failed", reason: "expired" });
  });
});
