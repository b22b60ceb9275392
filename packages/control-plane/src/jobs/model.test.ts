import { describe, expect, it } from "vitest";
import { jobEvent } from "../../../runtime/test/support/jobs.js";
import { epochNanos, parseJobEvent } from "./model.js";

describe("parseJobEvent", () => {
  const wire = jobEvent("created", { tries: 0, payload: { a: 1 } });

  it("accepts a created event and drops null optionals", () => {
    expect(parseJobEvent({ ...wire, error: null, deadline: null })).toEqual(wire);
  });

  it("keeps a null payload and refuses a created without one", () => {
    expect(parseJobEvent({ ...wire, payload: null })?.payload).toBeNull();
    const { payload: _payload, ...bare } = wire;
    expect(parseJobEvent(bare)).toBeUndefined();
  });

  it("refuses a state that does not match the event type, and bad shapes", () => {
    expect(parseJobEvent({ ...wire, state: "active" })).toBeUndefined();
    expect(parseJobEvent({ ...wire, jobId: "a.b" })).toBeUndefined();
    expect(parseJobEvent({ ...wire, timestamp: "yesterday" })).toBeUndefined();
    expect(parseJobEvent("nope")).toBeUndefined();
  });
});

describe("epochNanos", () => {
  it("keeps sub-millisecond digits and honours offsets", () => {
    expect(epochNanos("1970-01-01T00:00:01.000000123Z")).toBe(1_000_000_123n);
    expect(epochNanos("1970-01-01T01:00:00+01:00")).toBe(0n);
    expect(epochNanos("2026-01-01T00:00:00.5Z") - epochNanos("2026-01-01T00:00:00.499999Z")).toBe(1000n);
    expect(() => epochNanos("2026-01-01")).toThrow(RangeError);
  });
});
