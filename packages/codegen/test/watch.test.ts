import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WriteReport } from "../src/prepare.js";
import { watchPrepare } from "../src/watch.js";
import {
  createWorkspace,
  packageJson,
  REPO_ROOT,
  removeWorkspaces,
  serviceSource,
  snapshot,
} from "./support/workspace.js";

const WAIT_MS = 20_000;

/** Resolves when `predicate` holds, polling; fails after `WAIT_MS`. */
async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const ALPHA = serviceSource(
  "test.alpha@v1",
  "Alpha",
  'import { note } from "../shared.js";\nexport { note };',
);

describe("prepare --watch", () => {
  let dir: string;
  const logs: string[] = [];
  const runs: WriteReport[] = [];
  const stop = new AbortController();
  let watching: Promise<void>;

  /** Runs `edit`, then waits for the next run and returns it. */
  async function next(edit: () => void): Promise<WriteReport> {
    const count = runs.length;
    edit();
    await until(() => runs.length > count, "a prepare run");
    return runs[count] as WriteReport;
  }

  beforeAll(async () => {
    dir = createWorkspace({
      "package.json": packageJson("root"),
      "svc/package.json": packageJson("svc"),
      "svc/contracts/alpha.ts": ALPHA,
      "svc/shared.ts": 'export const note = "Read it (one).";\n',
      "svc/contracts/gamma.ts": serviceSource("test.gamma@v1", "Gamma"),
    });
    watching = watchPrepare({
      root: dir,
      changes: true,
      signal: stop.signal,
      log: (line) => logs.push(line),
      onRun: (run) => runs.push(run),
    });
    await until(() => logs.some((line) => line.startsWith("watching ")), "the watcher");
  }, 60_000);

  afterAll(async () => {
    stop.abort();
    await watching;
    removeWorkspaces();
  });

  const touches = (report: WriteReport, lineage: string) =>
    report.written.length > 0 &&
    report.written.every((path) => path.includes(`test.${lineage}@v1`) || path.includes(`test-${lineage}/`));

  it("prepares everything first", () => {
    expect(runs[0]?.problems).toEqual([]);
    expect(runs[0]?.contracts.map((contract) => contract.id)).toEqual(["test.alpha@v1", "test.gamma@v1"]);
  });

  it("re-prepares exactly the contract whose source or imported file changed", async () => {
    const alpha = join(dir, "svc/contracts/alpha.ts");
    const edited = await next(() =>
      writeFileSync(alpha, ALPHA.replace("Test service Alpha.", "Alpha, edited.")),
    );
    expect(touches(edited, "alpha")).toBe(true);
    expect(edited.written).toContain("generated/contracts/manifests/test.alpha@v1.json");
    expect(logs).toContain("prepare again: affects svc/contracts/alpha.ts");

    const imported = await next(() =>
      writeFileSync(
        alpha,
        readFileSync(alpha, "utf8").replace('description: "Read it."', "description: note"),
      ),
    );
    expect(touches(imported, "alpha")).toBe(true);
    const viaShared = await next(() =>
      writeFileSync(join(dir, "svc/shared.ts"), 'export const note = "Read it (two).";\n'),
    );
    expect(touches(viaShared, "alpha")).toBe(true);
    expect(readFileSync(join(dir, "generated/contracts/scopes/test.alpha@v1.json"), "utf8")).toContain(
      "Read it (two).",
    );
  }, 60_000);

  it("reports a syntax error, keeps the last artifacts, and recovers", async () => {
    const alpha = join(dir, "svc/contracts/alpha.ts");
    const before = snapshot(dir);
    const good = readFileSync(alpha, "utf8");
    const broken = await next(() => writeFileSync(alpha, `${good}\nexport const = ;\n`));
    expect(broken.problems).toHaveLength(1);
    expect(broken.problems[0]?.file).toBe("svc/contracts/alpha.ts");
    expect(logs.some((line) => line.startsWith("prepare failed: svc/contracts/alpha.ts: "))).toBe(true);
    expect(snapshot(dir)).toEqual(before);

    const fixed = await next(() => writeFileSync(alpha, good.replace("Alpha, edited.", "Alpha, fixed.")));
    expect(fixed.problems).toEqual([]);
    expect(touches(fixed, "alpha")).toBe(true);
  }, 60_000);

  it("runs a full prepare for a new contract source", async () => {
    const added = await next(() =>
      writeFileSync(join(dir, "svc/contracts/delta.ts"), serviceSource("test.delta@v1", "Delta")),
    );
    expect(touches(added, "delta")).toBe(true);
    expect(added.contracts.map((contract) => contract.id)).toEqual([
      "test.alpha@v1",
      "test.delta@v1",
      "test.gamma@v1",
    ]);
    expect(logs).toContain("full prepare: svc/contracts/delta.ts is a new contract source");
  }, 60_000);
});

describe("trellis prepare --watch (the CLI)", () => {
  let child: ChildProcess | undefined;

  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(child.pid, "SIGKILL");
    removeWorkspaces();
  });

  it("exits cleanly on Ctrl-C", async () => {
    const dir = createWorkspace({
      "package.json": packageJson("root"),
      "svc/package.json": packageJson("svc"),
      "svc/contract.ts": serviceSource("test.cli@v1", "Cli"),
    });
    const cli = spawn(
      process.execPath,
      [join(REPO_ROOT, "packages/cli/dist/bin.js"), "prepare", "--watch", dir],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child = cli;
    let stderr = "";
    cli.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const exited = new Promise<number | null>((resolve) => cli.once("exit", (code) => resolve(code)));
    await until(() => stderr.includes("watching "), "the CLI to watch");
    expect(stderr).toContain("prepared 1 contract: wrote");
    process.kill(cli.pid as number, "SIGINT");
    const code = await Promise.race([
      exited,
      new Promise((resolve) => setTimeout(() => resolve("timeout"), 10_000)),
    ]);
    expect(code).toBe(0);
  }, 60_000);
});
