import { describe, expect, it } from "vitest";
import { jobQueueConsumerConfig } from "./job-queues.js";
import { jobQueueGrants, jobsBinding } from "./resources.js";

describe("jobsBinding", () => {
  it("uses the canonical names and applies every default", () => {
    const binding = jobsBinding("svc.orders", {
      resize: { payload: { schema: "Resize" } },
      mail: {
        payload: { schema: "Mail" },
        result: { schema: "Sent" },
        maxDeliver: 2,
        concurrency: 8,
        progress: false,
      },
    });
    expect(binding.namespace).toBe("svc_orders");
    expect(binding.workStream).toBe("JOBS_WORK");
    expect(Object.keys(binding.queues)).toEqual(["mail", "resize"]);
    expect(binding.queues.resize).toEqual({
      queueType: "resize",
      publishPrefix: "trellis.jobs.svc_orders.resize",
      workSubject: "trellis.work.svc_orders.resize",
      consumerName: "svc_orders-resize",
      payload: { schema: "Resize" },
      maxDeliver: 5,
      backoffMs: [5000, 30000, 120000, 600000],
      ackWaitMs: 300000,
      progress: true,
      logs: true,
      dlq: true,
      concurrency: 1,
    });
    expect(binding.queues.mail).toMatchObject({
      maxDeliver: 2,
      backoffMs: [5000],
      concurrency: 8,
      progress: false,
    });
  });

  it("refuses the namespace reserved for worker heartbeats", () => {
    expect(() => jobsBinding("workers", { q: { payload: { schema: "P" } } })).toThrow(/reserved/);
  });
});

describe("jobQueueGrants", () => {
  it("grants exact subjects of the namespace and of each queue's consumer", () => {
    const grants = jobQueueGrants(
      jobsBinding("svc", { a: { payload: { schema: "P" } }, b: { payload: { schema: "P" } } }),
    );
    expect(grants.publish).toEqual([
      "trellis.jobs.svc.>",
      "trellis.jobs.workers.svc.>",
      "$JS.API.DIRECT.GET.JOBS.trellis.jobs.svc.>",
      "$JS.API.CONSUMER.INFO.JOBS_WORK.svc-a",
      "$JS.API.CONSUMER.MSG.NEXT.JOBS_WORK.svc-a",
      "$JS.ACK.JOBS_WORK.svc-a.>",
      "$JS.API.CONSUMER.INFO.JOBS_WORK.svc-b",
      "$JS.API.CONSUMER.MSG.NEXT.JOBS_WORK.svc-b",
      "$JS.ACK.JOBS_WORK.svc-b.>",
    ]);
    expect(grants.subscribe).toEqual(["trellis.jobs.svc.a.*.*", "trellis.jobs.svc.b.*.*"]);
  });
});

describe("jobQueueConsumerConfig", () => {
  it("bounds in-flight jobs by the concurrency and redelivers on the backoff", () => {
    const queue = jobsBinding("svc", {
      q: { payload: { schema: "P" }, maxDeliver: 3, backoffMs: [200, 400, 800], concurrency: 4 },
    }).queues.q;
    if (!queue) throw new Error("no queue");
    expect(jobQueueConsumerConfig("svc", queue)).toMatchObject({
      durable_name: "svc-q",
      filter_subject: "trellis.work.svc.q",
      max_ack_pending: 4,
      max_deliver: 3,
      backoff: [200e6, 400e6],
      ack_wait: 300000e6,
      metadata: { "trellis.deployment": "svc" },
    });
  });
});
