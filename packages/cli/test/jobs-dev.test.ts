/**
 * `trellis jobs …` as processes (the built CLI) against a running `trellis dev` (as a process too),
 * signed in by `trellis dev` as its admin. A job's lifecycle events are published to `JOBS` with the
 * TRELLIS-account credentials `trellis dev` keeps in its folder.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { type JobEventType, jobEventSubject } from "@trellis/contracts";
import { topologyFiles } from "@trellis/control-plane";
import { JOB_EVENT_STATE, type JobEvent } from "@trellis/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN, type DevProcess, killLeftovers, startDev } from "./support/dev-process.js";

const root = mkdtempSync(join(tmpdir(), "trellis-jobs-dev-"));
const env = { XDG_CONFIG_HOME: join(root, "config") };
let dev: DevProcess;
let nc: NatsConnection;

beforeAll(async () => {
  dev = await startDev(["--dir", join(root, "dot-trellis"), "--port", "0"], { env });
  nc = await connect({
    servers: dev.report.natsUrl,
    authenticator: credsAuthenticator(readFileSync(topologyFiles(dev.report.dir).creds.trellisAuth)),
  });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  try {
    if (dev) expect(await dev.stop("SIGTERM")).toBe(0);
  } finally {
    killLeftovers();
    rmSync(root, { recursive: true, force: true });
  }
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

async function publish(jobId: string, eventType: JobEventType, fields: Partial<JobEvent> = {}) {
  const event: JobEvent = {
    jobId,
    service: "orders",
    jobType: "invoice",
    eventType,
    state: JOB_EVENT_STATE[eventType],
    context: {
      requestId: "01JREQUEST0000000000000000",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
    tries: 0,
    timestamp: new Date().toISOString(),
    ...fields,
  };
  await jetstream(nc).publish(jobEventSubject("orders", "invoice", jobId, eventType), JSON.stringify(event));
}

describe("trellis jobs against trellis dev", () => {
  it("lists, shows, cancels and reports the dead-letter queue and services", async () => {
    await publish("inv-1", "created", { payload: { order: 7 }, maxTries: 2 });
    await publish("inv-1", "started", { previousState: "pending", tries: 1 });
    await publish("inv-1", "progress", {
      previousState: "active",
      tries: 1,
      progress: { message: "pdf", current: 1 },
    });

    const deadline = Date.now() + 15_000;
    let shown = await cli("jobs", "get", "inv-1");
    while (!shown.stdout.includes("Progress:") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      shown = await cli("jobs", "get", "inv-1");
    }
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("Queue:       orders/invoice");
    expect(shown.stdout).toContain("Progress:    pdf — 1");

    const list = await cli("--format", "json", "jobs", "list", "--service", "orders");
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).entries).toEqual([
      expect.objectContaining({ id: "inv-1", state: "active" }),
    ]);

    const cancel = await cli("jobs", "cancel", "inv-1");
    expect(cancel).toMatchObject({ code: 0, stdout: "Job inv-1 (orders/invoice) is now cancelled.\n" });
    const again = await cli("jobs", "cancel", "inv-1");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("is in state 'cancelled'");

    expect(await cli("jobs", "dlq", "list")).toMatchObject({
      code: 0,
      stdout: "The dead-letter queue is empty.\n",
    });
    expect((await cli("jobs", "services")).code).toBe(0);
  }, 60_000);
});
