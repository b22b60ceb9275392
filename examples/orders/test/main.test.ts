/**
 * The example's entry points as real processes (`dist/`, built by `tsc -b` before the tests run):
 * refusals of missing configuration, and a clean stop on SIGTERM while the service waits for the
 * control plane.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));
const children: ChildProcess[] = [];

/** Runs an entry point to completion with only `env` (plus PATH) in its environment. */
function run(file: string, env: Record<string, string>, args: string[] = []) {
  const result = spawnSync(process.execPath, [dist(file), ...args], {
    encoding: "utf8",
    timeout: 15_000,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

beforeAll(() => {
  for (const file of ["main-service.js", "main-agent.js"]) {
    if (!existsSync(dist(file)))
      throw new Error(`${dist(file)} is missing: run 'npx tsc -b examples/orders' first`);
  }
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("main-service", () => {
  it("exits 2 naming the missing variables", () => {
    const result = run("main-service.js", {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("main-service: TRELLIS_URL and TRELLIS_SESSION_KEY_SEED are not set");
  });

  it("exits 2 on a URL that is not http(s)", () => {
    const result = run("main-service.js", {
      TRELLIS_URL: "nats://127.0.0.1:4222",
      TRELLIS_SESSION_KEY_SEED: "x",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("must be an http(s) URL");
  });

  it("stops cleanly (exit 0) on SIGTERM while waiting for an unreachable control plane", async () => {
    const port = await closedPort();
    const child = spawn(process.execPath, [dist("main-service.js")], {
      env: {
        PATH: process.env.PATH ?? "",
        TRELLIS_URL: `http://127.0.0.1:${port}`,
        TRELLIS_SESSION_KEY_SEED: "A".repeat(43),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stdout = "";
    child.stdout?.on("data", (chunk) => (stdout += String(chunk)));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 10_000;
    while (!stdout.includes("Service bootstrap endpoint unavailable") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(stdout).toContain("Service bootstrap endpoint unavailable");
    child.kill("SIGTERM");
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 5000)),
    ]);
    expect(code).toBe(0);
  }, 20_000);
});

describe("main-agent", () => {
  it("exits 2 without a URL, with the usage", () => {
    const result = run("main-agent.js", {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("main-agent: TRELLIS_URL is not set");
    expect(result.stderr).toContain("usage: main-agent");
  });

  it("exits 1 naming the control plane it cannot reach", async () => {
    const port = await closedPort();
    const result = run("main-agent.js", { ORDERS_AGENT_SEED_FILE: "/nonexistent/dir/seed" }, [
      `http://127.0.0.1:${port}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`main-agent: Cannot reach http://127.0.0.1:${port}/bootstrap/client`);
  });
});
