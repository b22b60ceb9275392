/**
 * Operations on the real stack (nats-server with the auth callout, the control plane on SQLite, real
 * HTTP bootstrap): reconciliation creates the deployment's operations bucket and grants it exactly,
 * services bind it through `TrellisService.connect`, and people call through an app signed in at the
 * portal.
 *
 * 1. The bucket is created by reconciliation and handed over in the binding; the grants are exact.
 * 2. Start, watch and wait over Validate-backed authentication; another person gets `forbidden`.
 * 3. A second replica answers control requests for an operation started on the first.
 * 4. After a restart, `get` returns the persisted snapshot and `control(id)` finishes a deferred
 *    operation the caller's `wait()` sees, without running the handler again — by hand, and from a
 *    job the handler enqueued before the restart.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { defineAppContract, defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { AuthError, JobError, type TrellisService } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { OWNER_METADATA_KEY } from "../src/authority/resources.js";
import { signIn } from "./support/platform-sign-in.js";
import {
  connectServicesAdmin,
  connectTrellisAccount,
  deployContract,
  eventually,
  type ProvisionedInstance,
  provisionInstance,
  type ServicesAdmin,
  startService,
} from "./support/services.js";

const refundsContract = defineServiceContract(
  {
    schemas: {
      RefundInput: z.object({ orderId: z.string().min(1), mode: z.enum(["hold", "defer", "job"]) }),
      RefundJob: z.object({ operationId: z.string(), orderId: z.string() }),
      RefundProgress: z.object({ step: z.string() }),
      Refund: z.object({ orderId: z.string(), refundedCents: z.int() }),
      Note: z.object({ text: z.string() }),
    },
  },
  (ref) => ({
    id: "e2e.refunds@v1",
    displayName: "Refunds",
    description: "Refunds orders as operations.",
    capabilities: { refund: { displayName: "Refund", description: "Refund orders." } },
    operations: {
      "Refunds.Run": {
        version: "v1",
        input: ref.schema("RefundInput"),
        progress: ref.schema("RefundProgress"),
        output: ref.schema("Refund"),
        capabilities: { call: ["refund"] },
        signals: { note: { input: ref.schema("Note") } },
        cancel: true,
      },
    },
    jobs: { refunds: { payload: ref.schema("RefundJob"), backoffMs: [200] } },
  }),
);

const refundsApp = defineAppContract({}, () => ({
  id: "e2e.refunds-app@v1",
  displayName: "Refunds desk",
  description: "Starts and follows refunds.",
  uses: { required: { refunds: refundsContract.use({ operations: { call: ["Refunds.Run"] } }) } },
}));

const PASSWORD = "operations-e2e-password-1";
const DEPLOYMENT = "refunds";
const BUCKET = "trellis_ops_refunds";

let platform: PlatformHandle;
let admin: ServicesAdmin;
let first: ProvisionedInstance;
let replicaA: TrellisService<typeof refundsContract> | undefined;
let alice: Awaited<ReturnType<typeof signIn<typeof refundsApp>>>;
let bob: Awaited<ReturnType<typeof signIn<typeof refundsApp>>>;
const cleanups: (() => Promise<unknown>)[] = [];
const gates = new Map<string, () => void>();
const handlerRuns: string[] = [];
const jobRuns: string[] = [];

function within<T>(promise: PromiseLike<T>, ms = 10_000): Promise<T> {
  return Promise.race([
    Promise.resolve(promise),
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);
}

async function collect<E>(iterable: AsyncIterable<E>): Promise<E[]> {
  const out: E[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/**
 * Starts a replica of the refunds service with `instance`'s seed: with the operation handler unless
 * `mount` is false, and with the `refunds` job handler (which finishes the operation) when `jobs`.
 */
function startRefunds(instance: ProvisionedInstance, mount = true, jobs = false) {
  return startService(platform, {
    contract: refundsContract,
    instance,
    name: "refunds",
    mount: (service) => {
      if (jobs) {
        service.jobs.refunds.handle(async ({ job }) => {
          jobRuns.push(job.payload.orderId);
          const op = await service.handle.operation.refunds.run.control(job.payload.operationId);
          if (op.isErr()) return Result.err(JobError.fatal(op.error.message));
          await op.value.started();
          await op.value.progress({ step: "refunded by a job" });
          const done = await op.value.complete({ orderId: job.payload.orderId, refundedCents: 500 });
          return done.isErr() ? Result.err(done.error) : Result.ok(undefined);
        });
      }
      if (!mount) return;
      service.handle.operation.refunds.run(async ({ input, op }) => {
        handlerRuns.push(input.orderId);
        if (input.mode === "defer") return op.defer();
        if (input.mode === "job") {
          const job = await service.jobs.refunds.create({ operationId: op.id, orderId: input.orderId });
          return job.isErr() ? Result.err(job.error) : op.defer();
        }
        await new Promise<void>((resolve) => gates.set(input.orderId, resolve));
        await op.started();
        await op.progress({ step: "charged back" });
        return Result.ok({ orderId: input.orderId, refundedCents: 1250 });
      });
    },
  });
}

beforeAll(async () => {
  platform = await startPlatform();
  for (const username of ["alice", "bob"]) {
    await platform.createUser({ username, password: PASSWORD, capabilities: ["e2e.refunds::refund"] });
  }
  admin = await connectServicesAdmin(platform);
  cleanups.push(() => admin.nc.close());
  const trellis = await connectTrellisAccount(platform);
  cleanups.push(() => trellis.close());
  const jsm = await jetstreamManager(trellis);
  await expect(jsm.streams.info(`KV_${BUCKET}`)).rejects.toThrow(/stream not found/i);

  first = await deployContract(admin, {
    deploymentId: DEPLOYMENT,
    namespaces: ["Refunds"],
    mode: "mutable-dev",
  });
  replicaA = await startRefunds(first);
  alice = await signIn(platform, refundsApp, "alice", PASSWORD);
  bob = await signIn(platform, refundsApp, "bob", PASSWORD);
  cleanups.push(
    () => alice.nc.close(),
    () => bob.nc.close(),
  );
}, 120_000);

afterAll(async () => {
  await replicaA?.stop().catch(() => undefined);
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await platform?.stop();
});

describe("the operations bucket", () => {
  it("is created by reconciliation, handed over in the binding and granted exactly", async () => {
    const trellis = await connectTrellisAccount(platform);
    try {
      const info = await (await jetstreamManager(trellis as NatsConnection)).streams.info(`KV_${BUCKET}`);
      expect(info.config.metadata?.[OWNER_METADATA_KEY]).toBe(DEPLOYMENT);
      expect(info.config.max_age).toBe(0);
    } finally {
      await trellis.close();
    }
    const materialized = platform.controlPlane.context.store.materialized.get(DEPLOYMENT);
    expect(materialized?.resourceBindings.operations).toEqual({ bucket: BUCKET });
    const subjects = materialized?.grants.nats.map((grant) => grant.subject) ?? [];
    expect(subjects).toContain(`$KV.${BUCKET}.>`);
    expect(subjects).not.toContain(`$JS.API.STREAM.CREATE.KV_${BUCKET}`);
    expect(subjects.some((subject) => subject.includes("trellis_operations_"))).toBe(false);
  });
});

describe("start, watch and wait", () => {
  it("serves the owner and refuses another person with `forbidden`", async () => {
    const ref = (await alice.operation.refunds.run.start({ orderId: "o-1", mode: "hold" })).unwrap();
    expect(ref.accepted).toMatchObject({ revision: 1, state: "pending" });
    const watch = (await ref.watch()).unwrap();
    const events = collect(watch);
    await eventually("the handler to hold", () => (gates.has("o-1") ? true : undefined));

    const foreign = bob.operation.refunds.run.resume(ref);
    for (const attempt of await Promise.all([foreign.get(), foreign.watch(), foreign.cancel()])) {
      const error = attempt.isErr() ? attempt.error : undefined;
      expect(error).toBeInstanceOf(AuthError);
      expect((error as AuthError).reason).toBe("forbidden");
    }

    gates.get("o-1")?.();
    const list = await within(events);
    expect(list.map((event) => event.type)).toEqual(["accepted", "started", "progress", "completed"]);
    expect(list.map((event) => event.snapshot.revision)).toEqual([1, 2, 3, 4]);
    const done = (await within(ref.wait())).unwrap();
    expect(done).toMatchObject({ state: "completed", output: { orderId: "o-1", refundedCents: 1250 } });
  });

  it("cancels for the owner; watchers see `cancelled`", async () => {
    const ref = (await alice.operation.refunds.run.start({ orderId: "o-2", mode: "hold" })).unwrap();
    const events = collect((await ref.watch()).unwrap());
    expect((await ref.cancel()).unwrap().state).toBe("cancelled");
    expect((await within(events)).map((event) => event.type)).toEqual(["accepted", "cancelled"]);
    await eventually("the handler to hold", () => (gates.has("o-2") ? true : undefined));
    gates.get("o-2")?.();
  });
});

describe("replicas", () => {
  it("a second replica answers control requests for an operation started on the first", async () => {
    const ref = (await alice.operation.refunds.run.start({ orderId: "o-3", mode: "hold" })).unwrap();
    await eventually("the handler to hold", () => (gates.has("o-3") ? true : undefined));
    const second = await provisionInstance(admin, DEPLOYMENT);
    const replicaB = await startRefunds(second, false);
    try {
      // The server has registered B's subscriptions once its connection is flushed.
      await replicaB.client.nc.flush();
      const watches = await Promise.all(Array.from({ length: 16 }, async () => (await ref.watch()).unwrap()));
      const onB = (replicaB as any).shared.operationServer.streams.size as number;
      expect(onB).toBeGreaterThan(0);
      expect(onB).toBeLessThan(16);
      const lists = Promise.all(watches.map((watch) => collect(watch)));
      gates.get("o-3")?.();
      for (const list of await within(lists)) {
        expect(list.map((event) => event.type)).toEqual(["accepted", "started", "progress", "completed"]);
      }
      // B alone holds a handle; A's control subscription also answers the caller's signal.
      const deferred = (await alice.operation.refunds.run.start({ orderId: "o-4", mode: "defer" })).unwrap();
      const handle = (await replicaB.handle.operation.refunds.run.control(deferred.id)).unwrap();
      const next = handle.nextSignal("note");
      (await deferred.signal("note", { text: "customer called" })).unwrap();
      expect((await within(next)).unwrap().input).toEqual({ text: "customer called" });
      (await handle.complete({ orderId: "o-4", refundedCents: 10 })).unwrap();
      expect((await within(deferred.wait())).unwrap().state).toBe("completed");
    } finally {
      await replicaB.stop();
    }
  });
});

describe("restart", () => {
  it("keeps the record; control(id) finishes a deferred operation without running the handler again", async () => {
    const ref = (await alice.operation.refunds.run.start({ orderId: "o-5", mode: "defer" })).unwrap();
    await eventually("the handler to defer", () => (handlerRuns.includes("o-5") ? true : undefined));
    const runs = handlerRuns.length;
    await replicaA?.stop();
    replicaA = await startRefunds(first);

    const persisted = (await ref.get()).unwrap();
    expect(persisted).toMatchObject({ id: ref.id, state: "pending", revision: 1 });
    const waiting = ref.wait();
    const op = (await replicaA.handle.operation.refunds.run.control(ref.id)).unwrap();
    await op.started();
    await op.progress({ step: "resumed after restart" });
    (await op.complete({ orderId: "o-5", refundedCents: 990 })).unwrap();
    const done = (await within(waiting)).unwrap();
    expect(done).toMatchObject({ state: "completed", revision: 4, output: { refundedCents: 990 } });
    expect(handlerRuns.length).toBe(runs);
  });

  it("a job the handler enqueued finishes the deferred operation after a restart", async () => {
    // This replica accepts operations and enqueues their jobs but runs no job worker.
    const ref = (await alice.operation.refunds.run.start({ orderId: "o-6", mode: "job" })).unwrap();
    await eventually("the handler to enqueue the job", () =>
      handlerRuns.includes("o-6") ? true : undefined,
    );
    const runs = handlerRuns.length;
    await replicaA?.stop();
    expect(jobRuns).not.toContain("o-6");

    replicaA = await startRefunds(first, true, true);
    const done = (await within(ref.wait(), 20_000)).unwrap();
    expect(done).toMatchObject({ state: "completed", output: { orderId: "o-6", refundedCents: 500 } });
    expect(done.revision).toBe(4);
    expect(jobRuns).toEqual(["o-6"]);
    expect(handlerRuns.length).toBe(runs);
  });
});
