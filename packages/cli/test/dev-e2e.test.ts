/**
 * End to end, in a fresh temporary folder: `trellis dev` starts nats-server, the control plane and
 * the example service → the example agent (a process) prints its login URL → a headless Chromium
 * signs in at the portal as the dev admin and approves → the agent's calls succeed → SIGINT stops
 * `trellis dev`, and no process it started is left.
 *
 * Needs a Chromium binary (`TRELLIS_CHROMIUM`, else `/usr/bin/chromium`); without one the suite is
 * skipped with a warning.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import {
  alive,
  type DevProcess,
  killLeftovers,
  processesMentioning,
  startDev,
} from "./support/dev-process.js";

const AGENT_MAIN = fileURLToPath(new URL("../../../examples/orders/dist/main-agent.js", import.meta.url));
const STEP_MS = 15_000;

/** Where Chromium is, or why the suite is skipped. */
function chromiumPath(): string | { skip: string } {
  const named = process.env.TRELLIS_CHROMIUM;
  const candidate = named !== undefined && named !== "" ? named : "/usr/bin/chromium";
  try {
    accessSync(candidate, constants.X_OK);
    return candidate;
  } catch {
    return { skip: `no Chromium at ${candidate} (set TRELLIS_CHROMIUM)` };
  }
}

const executablePath = chromiumPath();
if (typeof executablePath !== "string") console.warn(`trellis dev e2e test skipped: ${executablePath.skip}`);
const suite = typeof executablePath === "string" ? describe : describe.skip;

suite("trellis dev end to end", () => {
  const root = mkdtempSync(join(tmpdir(), "trellis-dev-e2e-"));
  let browser: Browser | undefined;
  let dev: DevProcess | undefined;
  let agent: ChildProcess | undefined;

  afterAll(async () => {
    if (agent?.exitCode === null && agent.signalCode === null) agent.kill("SIGKILL");
    await browser?.close().catch(() => undefined);
    killLeftovers();
    rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it("starts everything, logs the agent in through the portal, the agent's calls succeed, and stopping leaves nothing", async () => {
    const dir = join(root, ".trellis");
    dev = await startDev(["--dir", dir, "--port", "0"], { env: { XDG_CONFIG_HOME: join(root, "config") } });
    const { report } = dev;
    const admin = JSON.parse(readFileSync(report.adminFile, "utf8")) as {
      username: string;
      password: string;
    };

    // The agent, as a person would run it: it prints the login URL and waits for the approval.
    let agentOut = "";
    let agentErr = "";
    const running = spawn(
      process.execPath,
      [AGENT_MAIN, report.url, "--seed-file", join(root, "agent.seed")],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    agent = running;
    const agentExit = new Promise<number | null>((resolve) => running.once("exit", resolve));
    const loginUrl = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the agent printed no login URL:\n${agentOut}${agentErr}`)),
        STEP_MS,
      );
      running.stdout.on("data", (chunk: Buffer) => {
        agentOut += chunk.toString();
        const url = /^\s+(http:\/\/\S+\/_trellis\/portal\/users\/login\S*)$/m.exec(agentOut)?.[1];
        if (url !== undefined) {
          clearTimeout(timer);
          resolve(url);
        }
      });
      running.stderr.on("data", (chunk: Buffer) => {
        agentErr += chunk.toString();
      });
    });
    const url = await loginUrl;
    expect(url.startsWith(report.portalUrl)).toBe(true);

    // The person: signs in at the portal as the dev admin and approves the agent.
    browser = await chromium.launch({
      executablePath: executablePath as string,
      headless: true,
      timeout: 30_000,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
    const context = await browser.newContext({ locale: "en-US" });
    context.setDefaultTimeout(STEP_MS);
    const page = await context.newPage();
    expect((await page.goto(url))?.status()).toBe(200);
    await page.getByLabel("Username", { exact: true }).fill(admin.username);
    await page.getByLabel("Password", { exact: true }).fill(admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: /approve/i }).click();
    await page.getByRole("heading", { level: 1, name: "You are signed in" }).waitFor();

    // The agent's calls succeed.
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      agentExit,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the agent did not finish:\n${agentOut}${agentErr}`)),
          30_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    expect(agentErr).toBe("");
    expect(code).toBe(0);
    expect(agentOut).toContain("Approved.");
    expect(agentOut).toContain("coffee beans");
    expect(agentOut).toContain("OrderNotFoundError");

    // Ctrl-C: everything `trellis dev` started is gone.
    expect(await dev.stop("SIGINT")).toBe(0);
    for (const pid of [report.pid, report.natsPid, ...report.services.map((service) => service.pid)]) {
      expect(alive(pid)).toBe(false);
    }
    expect(processesMentioning(dir)).toEqual([]);
  }, 180_000);
});
