import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "trellis-dev-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `trellis dev` until it reports it is running; returns the child and its JSON report. */
async function startDev() {
  const child = spawn(
    process.execPath,
    [bin, "dev", "--dir", dir, "--nats-port", "0", "--http-port", "0", "--format", "json"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const report = await new Promise<{ url: string; natsUrl: string; adminFile: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`trellis dev did not start within 30 s:\n${stderr.slice(-2000)}`)),
      30_000,
    );
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.once("exit", (code) =>
      reject(new Error(`trellis dev exited with ${code}:\n${stderr.slice(-2000)}`)),
    );
  });
  return { child, report, stderr: () => stderr };
}

describe("trellis dev", () => {
  it("runs the platform in its folder, serves HTTP, and stops everything on SIGTERM", async () => {
    const { child, report } = await startDev();
    try {
      const health = await fetch(`${report.url}/healthz`);
      expect(health.status).toBe(200);
      const admin = JSON.parse(readFileSync(report.adminFile, "utf8")) as {
        username: string;
        password: string;
      };
      expect(admin.username).toBe("admin");
      expect(admin.password.length).toBeGreaterThanOrEqual(12);
      expect(existsSync(join(dir, "topology.json"))).toBe(true);
      expect(existsSync(join(dir, "trellis.sqlite"))).toBe(true);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
    // nats-server was a child of `trellis dev` and is gone too; the folder is reused on the next run.
    const again = await startDev();
    try {
      const admin = JSON.parse(readFileSync(again.report.adminFile, "utf8")) as { password: string };
      expect(again.stderr()).not.toContain("Generated a NATS topology");
      expect(admin.password.length).toBeGreaterThanOrEqual(12);
    } finally {
      const exited = new Promise<number | null>((resolve) => again.child.once("exit", resolve));
      again.child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(again.child.pid && alive(again.child.pid)).toBe(false);
    }
  }, 90_000);
});
