/**
 * The Jobs admin with the real jobs runtime (nats-server with the auth callout, the control plane on
 * SQLite, a service bootstrapped over HTTP in a `mutable-dev` deployment whose reconciliation creates
 * the queue): a job that keeps failing is dead-lettered by the max-deliveries advisory, shows in
 * `Jobs.ListDLQ`, and `Jobs.ReplayDLQ` runs it again to completion under the same id; the worker shows
 * in `Jobs.ListServices`; the live projection equals one rebuilt from `JOBS`.
 */

import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { trellisJobs } from "@trellis/builtin-contracts";
import { defineAgentContract, defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { JobError, TrellisService } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { JobsProjection } from "../src/jobs/projection.js";
import { compareProjections, rebuildJobsProjection } from "../src/jobs/rebuild.js";
import { openDatabase } from "../src/store/database.js";
import { signIn } from "./support/platform-sign-in.js";
import {
  connectServicesAdmin,
  connectTrellisAccount,
  deployContract,
  eventually,
  ok,
} from "./support/services.js";

const syncContract = defineServiceContract(
  { schemas: { Sync: z.object({ account: z.string() }), Synced: z.object({ account: z.string() }) } },
  (ref) => ({
    id: "e2e.sync@v1",
    displayName: "Sync",
    description: "Synchronizes accounts in the background.",
    jobs: {
      sync: { payload: ref.schema("Sync"), result: ref.schema("Synced"), maxDeliver: 2, backoffMs: [100] },
      slow: {
        payload: ref.schema("Sync"),
        result: ref.schema("Synced"),
        defaultDeadlineMs: 300,
        concurrency: 2,
      },
    },
  }),
);

const jobsAdminContract = defineAgentContract({}, () => ({
  id: "e2e.jobs-dlq-admin@v1",
  displayName: "Jobs DLQ admin",
  description: "Reads and replays dead-lettered jobs.",
  uses: {
    required: {
      jobs: trellisJobs.use({
        rpc: { call: ["Jobs.Get", "Jobs.ListDLQ", "Jobs.ReplayDLQ", "Jobs.ListServices", "Jobs.Cancel"] },
      }),
    },
  },
}));

const DEPLOYMENT = "sync-e2e";
let platform: PlatformHandle;
let admin: Awaited<ReturnType<typeof signIn<typeof jobsAdminContract>>>;
let service: TrellisService<typeof syncContract>;
let nc: NatsConnection;
/** The projected job once it is in `state`. */
function projectedIn(id: string, state: string) {
  return eventually(`job ${id} to be ${state}`, async () => {
    const reply = await admin.rpc.jobs.get({ id });
    return reply.isOk() && reply.value.job.state === state ? reply.value.job : undefined;
  });
}

/** While true, every run fails with a retryable error. */
let upstreamDown = true;
const runs: number[] = [];
/** Releases the `slow` run of an account; its abort reason when its signal fired first. */
const release = new Map<string, () => void>();
const abortReasons = new Map<string, unknown>();

beforeAll(async () => {
  platform = await startPlatform();
  const credentials = platform.admin as { username: string; password: string };
  const servicesAdmin = await connectServicesAdmin(platform);
  const instance = await deployContract(servicesAdmin, {
    deploymentId: DEPLOYMENT,
    namespaces: ["sync"],
    mode: "mutable-dev",
  });
  await servicesAdmin.nc.close();
  service = await TrellisService.connect({
    trellisUrl: platform.url,
    contract: syncContract,
    name: DEPLOYMENT,
    sessionKeySeed: instance.seed,
    logger: false,
    heartbeat: false,
    jobs: { presenceIntervalMs: 200 },
    bootstrap: { retryAfterMaxMs: 500, maxBackoffMs: 1000, signal: AbortSignal.timeout(60_000) },
  });
  service.jobs.sync.handle(async ({ job }) => {
    runs.push(job.tries);
    if (upstreamDown) return Result.err(JobError.retryable("upstream unavailable"));
    return Result.ok({ account: job.payload.account });
  });
  service.jobs.slow.handle(async ({ job }) => {
    const { account } = job.payload;
    await new Promise<void>((resolve) => {
      release.set(account, resolve);
      job.signal.addEventListener("abort", () => {
        abortReasons.set(account, job.signal.reason);
        resolve();
      });
    });
    return Result.ok({ account });
  });
  await service.start();
  admin = await signIn(platform, jobsAdminContract, credentials.username, credentials.password);
  nc = await connectTrellisAccount(platform);
}, 90_000);

afterAll(async () => {
  await service?.stop();
  await admin?.nc.close();
  await nc?.close();
  await platform?.stop();
});

describe("jobs admin with the jobs runtime", () => {
  it("dead-letters a failing job and replays it to completion with the same id", async () => {
    const ref = ok(await service.jobs.sync.create({ account: "acme" }), "create");
    const dead = await eventually("the job to be dead", async () => {
      const reply = await admin.rpc.jobs.get({ id: ref.id });
      return reply.isOk() && reply.value.job.state === "dead" ? reply.value.job : undefined;
    });
    expect(dead).toMatchObject({ service: DEPLOYMENT, type: "sync", tries: 2 });
    expect(dead.lastError).toMatch(/^max deliveries exceeded: stream=JOBS_WORK consumer=\S+ deliveries=2$/);
    expect(runs).toEqual([1, 2]);
    const dlq = ok(await admin.rpc.jobs.listDLQ({ limit: 10 }), "Jobs.ListDLQ");
    expect(dlq.entries.map((job) => job.id)).toEqual([ref.id]);
    expect(ok(await ref.wait({ timeoutMs: 5000 }), "wait").state).toBe("dead");

    upstreamDown = false;
    const replayed = ok(await admin.rpc.jobs.replayDLQ({ id: ref.id }), "Jobs.ReplayDLQ");
    expect(replayed.job).toMatchObject({ id: ref.id, state: "pending", tries: 0 });
    const done = ok(await service.jobs.sync.ref(ref.id).wait({ timeoutMs: 15_000 }), "wait after replay");
    expect(done).toMatchObject({ id: ref.id, state: "completed", result: { account: "acme" } });
    const projected = await eventually("the projection to show completed", async () => {
      const reply = await admin.rpc.jobs.get({ id: ref.id });
      return reply.isOk() && reply.value.job.state === "completed" ? reply.value.job : undefined;
    });
    expect(projected).toMatchObject({ id: ref.id, result: { account: "acme" }, tries: 1 });
    expect(projected.lastError).toBeUndefined();
    expect(runs).toEqual([1, 2, 1]);
    expect(ok(await admin.rpc.jobs.listDLQ({ limit: 10 }), "Jobs.ListDLQ").count).toBe(0);
  });

  it("cancels an active job: the handler's signal aborts and the job stays cancelled", async () => {
    const deadline = new Date(Date.now() + 60_000);
    const ref = ok(await service.jobs.slow.create({ account: "to-cancel" }, { deadline }), "create");
    await projectedIn(ref.id, "active");
    const { job } = ok(await admin.rpc.jobs.cancel({ id: ref.id }), "Jobs.Cancel");
    expect(job).toMatchObject({ id: ref.id, state: "cancelled" });
    await eventually("the handler to see the cancel", () => abortReasons.get("to-cancel"));
    expect(abortReasons.get("to-cancel")).toBe("cancelled");
    expect(ok(await ref.wait({ timeoutMs: 5000 }), "wait").state).toBe("cancelled");
  });

  it("expires a job past its deadline; the worker's late completed does not change it", async () => {
    const ref = ok(await service.jobs.slow.create({ account: "too-slow" }), "create");
    const active = await projectedIn(ref.id, "active");
    expect(active.deadline).toBeDefined();
    await new Promise((resolve) =>
      setTimeout(resolve, Date.parse(active.deadline as string) - Date.now() + 10),
    );
    expect(await platform.controlPlane.jobs.sweep()).toBe(1);
    const expired = await projectedIn(ref.id, "expired");
    expect(expired.lastError).toBe("job exceeded deadline");

    release.get("too-slow")?.();
    const jsm = await jetstreamManager(nc);
    const subject = `trellis.jobs.${DEPLOYMENT}.slow.${ref.id}.completed`;
    await eventually(
      "the worker's late completed event",
      async () => (await jsm.streams.getMessage("JOBS", { last_by_subj: subject })) ?? undefined,
    );
    const marker = ok(await service.jobs.sync.create({ account: "marker" }), "create marker");
    await projectedIn(marker.id, "completed");
    expect(ok(await admin.rpc.jobs.get({ id: ref.id }), "Jobs.Get").job).toEqual(expired);
  });

  it("shows the service's worker online", async () => {
    const page = await eventually("the worker's presence", async () => {
      const reply = ok(await admin.rpc.jobs.listServices({ limit: 10 }), "Jobs.ListServices");
      return reply.entries.length > 0 ? reply : undefined;
    });
    expect(page.entries).toEqual([
      expect.objectContaining({
        healthy: true,
        workers: [
          expect.objectContaining({ jobType: "slow", concurrency: 2 }),
          expect.objectContaining({ jobType: "sync", concurrency: 1 }),
        ],
      }),
    ]);
  });

  it("rebuilds from JOBS a projection equal to the live one", async () => {
    const db = openDatabase(":memory:");
    try {
      const rebuilt = new JobsProjection(db);
      await rebuildJobsProjection(nc, rebuilt);
      const live = new JobsProjection(platform.controlPlane.context.store.db);
      expect(rebuilt.all()).toHaveLength(4);
      expect(compareProjections(live, rebuilt)).toEqual({ onlyInFirst: [], onlyInSecond: [], changed: [] });
    } finally {
      db.close();
    }
  });
});
