/**
 * `trellis dev` as a process (the built CLI): the platform and the example service in a temporary
 * folder, the report's URLs and PIDs, the CLI signed in as the dev admin, the scripted demo, reuse of
 * the folder, stopping everything by PID, and its refusals.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineServiceContract } from "@trellis/contracts";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  alive,
  CLI_BIN,
  killLeftovers,
  processesMentioning,
  runDevToExit,
  startDev,
} from "./support/dev-process.js";

const root = mkdtempSync(join(tmpdir(), "trellis-dev-"));
afterEach(() => killLeftovers());
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fresh(name: string): { dir: string; env: Record<string, string> } {
  const base = join(root, name);
  mkdirSync(base);
  return { dir: join(base, "dot-trellis"), env: { XDG_CONFIG_HOME: join(base, "config") } };
}

/** Runs the built CLI once more (`whoami`) with the same config folder. */
async function cli(args: string[], env: Record<string, string>) {
  const { execFile } = await import("node:child_process");
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe("trellis dev", () => {
  it("runs the platform and the example, signs the CLI in, and stops everything by PID; the folder is reused", async () => {
    const { dir, env } = fresh("platform");
    const dev = await startDev(["--dir", dir, "--port", "0"], { env });
    const { report } = dev;
    let seed: string;
    try {
      expect((await fetch(`${report.url}/healthz`)).status).toBe(200);
      expect((await fetch(report.metricsUrl)).status).toBe(200);
      expect(report.portalUrl).toBe(`${report.url}/_trellis/portal/users/login`);
      expect(report.natsUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      const admin = JSON.parse(readFileSync(report.adminFile, "utf8")) as {
        username: string;
        password: string;
      };
      expect(admin.username).toBe("admin");
      expect(admin.password.length).toBeGreaterThanOrEqual(12);
      expect(statSync(report.adminFile).mode & 0o777).toBe(0o600);

      expect(report.services).toHaveLength(1);
      const [orders] = report.services;
      expect(orders).toMatchObject({ name: "orders", deploymentId: "orders" });
      expect(orders?.instanceId).toMatch(/^svc_/);
      expect(alive(orders?.pid ?? -1)).toBe(true);
      expect(alive(report.natsPid)).toBe(true);
      const seedFile = join(dir, "services", "orders.seed");
      expect(statSync(seedFile).mode & 0o777).toBe(0o600);
      seed = readFileSync(seedFile, "utf8");

      expect(report.cliSession).not.toBeNull();
      const whoami = await cli(["whoami", "--format", "json"], env);
      expect(whoami.stderr).toBe("");
      expect(JSON.parse(whoami.stdout)).toMatchObject({ trellisUrl: report.url });
      expect(whoami.stdout).toContain("local:admin");
    } finally {
      expect(await dev.stop("SIGTERM")).toBe(0);
    }
    for (const pid of [report.natsPid, ...report.services.map((service) => service.pid)]) {
      expect(alive(pid)).toBe(false);
    }
    expect(processesMentioning(dir)).toEqual([]);

    // The same folder again: topology, admin and instance seed are reused.
    const again = await startDev(["--dir", dir, "--port", "0", "--no-login"], { env });
    try {
      expect(again.report.services[0]?.instanceId).toBe(report.services[0]?.instanceId);
      expect(again.report.cliSession).toBeNull();
      expect(readFileSync(join(dir, "services", "orders.seed"), "utf8")).toBe(seed);
      expect(again.stderr()).not.toContain("Generated a NATS topology");
    } finally {
      expect(await again.stop("SIGINT")).toBe(0);
    }
    expect(processesMentioning(dir)).toEqual([]);
  }, 180_000);

  it("--demo runs the example's scripted demo and keeps running", async () => {
    const { dir, env } = fresh("demo");
    const dev = await startDev(["--dir", dir, "--port", "0", "--no-login", "--demo"], { env });
    try {
      const line = await dev.waitForLine((l) => l.startsWith('{"demo"'), 60_000);
      const demo = JSON.parse(line) as { demo: string; ok: boolean; error?: string; result: unknown };
      expect(demo.error).toBeUndefined();
      expect(demo).toMatchObject({ demo: "orders", ok: true });
      expect(JSON.stringify(demo.result)).toContain("coffee beans");
      expect(dev.stderr()).toContain("Demo complete.");
      expect(alive(dev.report.pid)).toBe(true);
    } finally {
      expect(await dev.stop("SIGINT")).toBe(0);
    }
  }, 180_000);

  it("stops everything when nats-server dies", async () => {
    const { dir, env } = fresh("nats-dies");
    const dev = await startDev(["--dir", dir, "--port", "0", "--no-login"], { env });
    const closed = new Promise<number | null>((resolve) => dev.child.once("close", resolve));
    process.kill(dev.report.natsPid, "SIGKILL");
    const started = Date.now();
    expect(await closed).toBe(1);
    // A liveness bound, not a speed check: draining every connection against a dead server would
    // take 5 s per connection, one after another.
    expect(Date.now() - started).toBeLessThan(20_000);
    const { error } = JSON.parse(
      dev
        .stderr()
        .split("\n")
        .find((line) => line.startsWith('{"error"')) ?? "{}",
    ) as { error: { code: string; message: string } };
    expect(error.code).toBe("nats-exited");
    expect(error.message).toContain(`nats-server (pid ${dev.report.natsPid}) exited unexpectedly`);
    expect(alive(dev.report.services[0]?.pid ?? -1)).toBe(false);
    expect(processesMentioning(dir)).toEqual([]);
  }, 120_000);

  it("a signal during start-up stops what has started and exits 0", async () => {
    const { dir, env } = fresh("interrupted");
    const child = spawn(process.execPath, [CLI_BIN, "dev", "--dir", dir, "--port", "0", "--no-login"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "ignore"],
    });
    const closed = new Promise<number | null>((resolve) => child.once("close", resolve));
    try {
      // Once nats-server runs (its command line names the folder), interrupt.
      const deadline = Date.now() + 30_000;
      while (!processesMentioning(join(dir, "nats.conf")).length) {
        if (Date.now() > deadline) throw new Error("nats-server did not start within 30 s");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill("SIGINT");
      expect(await closed).toBe(0);
      expect(processesMentioning(dir)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});

describe("trellis dev refusals", () => {
  it("refuses a bad --port", async () => {
    const { dir, env } = fresh("bad-port");
    const run = await runDevToExit(["--dir", dir, "--port", "http"], { env });
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr).error).toMatchObject({
      code: "invalid-option",
      message: "--port must be a port number (0–65535), got 'http'",
    });
  });

  it("refuses a folder that does not declare a service", async () => {
    const { dir, env } = fresh("not-a-service");
    const folder = join(root, "not-a-service", "pkg");
    mkdirSync(folder);
    writeFileSync(join(folder, "package.json"), JSON.stringify({ name: "x" }));
    const run = await runDevToExit(["--dir", dir, "--port", "0", "--service", folder], { env });
    expect(run.code).toBe(2);
    const { error } = JSON.parse(run.stderr) as { error: { code: string; message: string } };
    expect(error.code).toBe("invalid-service");
    expect(error.message).toContain("does not declare a Trellis service");
    // Nothing was started.
    expect(processesMentioning(dir)).toEqual([]);
  });

  it("reports a service that exits before it is ready, with its output, and stops the platform", async () => {
    const { dir, env } = fresh("failing-service");
    const folder = join(root, "failing-service", "pkg");
    mkdirSync(folder);
    const contract = defineServiceContract({}, () => ({
      id: "dev-test.failing@v1",
      displayName: "Failing",
      description: "A service that exits at once.",
    }));
    writeFileSync(
      join(folder, "package.json"),
      JSON.stringify({ trellis: { service: { name: "failing", main: "main.js", contract: "contract.js" } } }),
    );
    writeFileSync(
      join(folder, "contract.js"),
      `export const failing = { CONTRACT: ${JSON.stringify(contract.CONTRACT)} };\n`,
    );
    writeFileSync(join(folder, "main.js"), 'console.log("no luck today");\nprocess.exit(3);\n');

    const run = await runDevToExit(["--dir", dir, "--port", "0", "--service", folder], { env });
    expect(run.code).toBe(1);
    const { error } = JSON.parse(run.stderr.trim().split("\n").at(-1) ?? "") as {
      error: { code: string; message: string };
    };
    expect(error.code).toBe("service-failed");
    expect(error.message).toMatch(/^service 'failing' \(pid \d+\) exited with code 3 before it was ready$/);
    expect(run.stderr).toContain("[failing] no luck today");
    expect(processesMentioning(dir)).toEqual([]);
  }, 60_000);
});
