import type { JobEventType } from "@trellis/contracts";
import type { JobEvent } from "@trellis/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { jobEvent } from "../../../runtime/test/support/jobs.js";
import { openDatabase, type SqliteDatabase } from "../store/database.js";
import { JobsProjection, LAST_SEQUENCE_KEY } from "./projection.js";

/** An event of job `jobId` (a `created` one with a payload), at midnight. */
function event(jobId: string, eventType: JobEventType, fields: Partial<JobEvent> = {}): JobEvent {
  return jobEvent(eventType, {
    jobId,
    tries: 0,
    maxTries: undefined,
    timestamp: "2026-01-01T00:00:00.000Z",
    ...(eventType === "created" && { payload: { n: 1 } }),
    ...fields,
  });
}

let db: SqliteDatabase;
let projection: JobsProjection;

beforeEach(() => {
  db = openDatabase(":memory:");
  projection = new JobsProjection(db);
});

afterEach(() => db.close());

describe("JobsProjection", () => {
  it("applies events once, by stream sequence, and records the last one", () => {
    projection.applyEvent(1, event("a", "created"));
    projection.applyEvent(2, event("a", "started", { previousState: "pending", tries: 1 }));
    const line = { timestamp: "2026-01-01T00:00:01.000Z", level: "info" as const, message: "x" };
    const logged = event("a", "logged", { previousState: "active", tries: 1, logs: [line] });
    expect(projection.applyEvent(3, logged)).toMatchObject({ outcome: "reduced", applied: true });
    expect(projection.applyEvent(3, logged)).toEqual({ outcome: "duplicate" });
    expect(projection.applyEvent(2, logged)).toEqual({ outcome: "duplicate" });
    expect(projection.get("a")?.job.logs).toEqual([line]);
    expect(projection.get("a")?.lastSequence).toBe(3);
    expect(projection.metadata(LAST_SEQUENCE_KEY)).toBe("3");
  });

  it("advances the sequence past ignored and skipped events without writing the job", () => {
    projection.applyEvent(1, event("a", "created"));
    const ignored = projection.applyEvent(5, event("a", "completed", { previousState: "active" }));
    expect(ignored).toMatchObject({ outcome: "reduced", applied: false });
    projection.skip(7);
    projection.skip(6);
    expect(projection.lastSequence()).toBe(7);
    expect(projection.get("a")).toMatchObject({ lastSequence: 1, job: { state: "pending" } });
  });

  it("finds overdue non-terminal jobs by instant, whatever the offset", () => {
    projection.applyEvent(1, event("early", "created", { deadline: "2026-01-01T11:00:00+02:00" }));
    projection.applyEvent(2, event("late", "created", { deadline: "2026-01-01T10:00:00.000Z" }));
    projection.applyEvent(3, event("done", "created", { deadline: "2026-01-01T08:00:00.000Z" }));
    projection.applyEvent(4, event("done", "cancelled", { previousState: "pending" }));
    projection.applyEvent(5, event("none", "created"));
    const at = (iso: string) => projection.overdue(new Date(iso)).map((p) => p.job.id);
    expect(at("2026-01-01T08:59:59.999Z")).toEqual([]);
    expect(at("2026-01-01T09:00:00.000Z")).toEqual(["early"]);
    expect(at("2026-01-01T12:00:00.000Z")).toEqual(["early", "late"]);
  });

  it("orders lists by update time as an instant, then service, type and id", () => {
    projection.applyEvent(1, event("b", "created", { timestamp: "2026-01-01T00:00:00.0000002Z" }));
    projection.applyEvent(2, event("a", "created", { timestamp: "2026-01-01T00:00:00.0000002Z" }));
    projection.applyEvent(3, event("c", "created", { timestamp: "2026-01-01T01:00:00+02:00" }));
    projection.applyEvent(4, event("d", "created", { timestamp: "2026-01-01T00:00:00.0000001Z" }));
    expect(projection.list().entries.map((job) => job.id)).toEqual(["a", "b", "d", "c"]);
    expect(projection.list({ since: "2026-01-01T00:00:00.0000002Z" }).entries.map((job) => job.id)).toEqual([
      "a",
      "b",
    ]);
  });

  it("keeps the newest heartbeat of each worker and lists only fresh ones", () => {
    const beat = (instanceId: string, timestamp: string, service = "billing") => ({
      service,
      jobType: "refund",
      instanceId,
      timestamp,
    });
    expect(projection.recordHeartbeat(beat("w1", "2026-01-01T00:01:00.000Z"))).toBe(true);
    expect(projection.recordHeartbeat(beat("w1", "2026-01-01T00:00:30.000Z"))).toBe(false);
    projection.recordHeartbeat(beat("w2", "2026-01-01T00:00:00.000Z"));
    projection.recordHeartbeat(beat("w3", "2026-01-01T00:00:00.000Z", "mail"));
    const services = projection.services(new Date("2026-01-01T00:02:00.000Z"));
    expect(services).toEqual([
      { name: "billing", workers: [beat("w1", "2026-01-01T00:01:00.000Z")] },
      { name: "mail", workers: [] },
    ]);
  });
});
