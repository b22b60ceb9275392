import { jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ensureJobStreams } from "@trellis/control-plane";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

describe("job streams", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("creates JOBS, JOBS_WORK (sourced with the work transforms) and JOBS_ADVISORIES, idempotently", async () => {
    const jsm = await jetstreamManager(nc);
    await ensureJobStreams(jsm, 1);
    await ensureJobStreams(jsm, 1);
    const jobs = (await jsm.streams.info("JOBS")).config;
    expect(jobs.subjects).toEqual(["trellis.jobs.>"]);
    expect(jobs.allow_direct).toBe(true);
    expect(jobs.retention).toBe(RetentionPolicy.Limits);
    const work = (await jsm.streams.info("JOBS_WORK")).config;
    expect(work.retention).toBe(RetentionPolicy.Workqueue);
    const advisories = (await jsm.streams.info("JOBS_ADVISORIES")).config;
    expect(advisories.subjects).toEqual(["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JOBS_WORK.>"]);
    expect(advisories.max_age).toBe(7 * 24 * 3600 * 1e9);

    const js = jetstream(nc);
    await js.publish("trellis.jobs.svc.resize.01J0000000000000000000000A.created", "{}");
    await js.publish("trellis.jobs.svc.resize.01J0000000000000000000000A.started", "{}");
    await js.publish("trellis.jobs.svc.resize.01J0000000000000000000000A.retried", "{}");
    await js.publish("trellis.jobs.workers.svc.resize.inst.heartbeat", "{}");
    const deadline = Date.now() + 5000;
    let count = 0;
    while (Date.now() < deadline) {
      count = (await jsm.streams.info("JOBS_WORK")).state.messages;
      if (count >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(count).toBe(2);
    const first = await jsm.streams.getMessage("JOBS_WORK", { seq: 1 });
    expect(first?.subject).toBe("trellis.work.svc.resize");
  });

  it("adopts a drifted stream and refuses one with another retention", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.update("JOBS", { allow_direct: false });
    await ensureJobStreams(jsm, 1);
    expect((await jsm.streams.info("JOBS")).config.allow_direct).toBe(true);
    await jsm.streams.delete("JOBS_ADVISORIES");
    await jsm.streams.add({
      name: "JOBS_ADVISORIES",
      subjects: ["other.>"],
      retention: RetentionPolicy.Interest,
    });
    await expect(ensureJobStreams(jsm, 1)).rejects.toThrow(/cannot be converted/);
  });
});
