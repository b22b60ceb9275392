import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { lowCardinality, Metrics } from "./metrics.js";

describe("lowCardinality", () => {
  it.each([
    "Orders.Get",
    "rpc",
    "rpcFoo.Bar",
    "ValidationError",
    "input_validation",
    "trellis.request.unavailable",
    "jobs-admin:v1",
    "abc123def45", // an 11-character hex run is still allowed
    "x".repeat(96),
  ])("keeps %s", (value) => {
    expect(lowCardinality(value)).toBe(value);
  });

  it("maps a missing value to none", () => {
    expect(lowCardinality(undefined)).toBe("none");
    expect(lowCardinality("")).toBe("none");
  });

  it.each([
    ["longer than 96 characters", "x".repeat(97)],
    ["with a space", "not found"],
    ["with a slash", "a/b"],
    ["with a wildcard", "Orders.*"],
    ["with non-ASCII", "café"],
    ["with a lower-case UUID", "order-123e4567-e89b-12d3-a456-426614174000"],
    ["with an upper-case UUID", "123E4567-E89B-12D3-A456-426614174000"],
    ["with a ULID", "job.01ARZ3NDEKTSV4RRFFQ69G5FAV"],
    ["with a 12-character hex run", "sess_deadbeefcafe"],
    ["an RPC subject", "rpc.v1.Orders.Get"],
    ["an event subject", "events.v1.Orders.Created"],
    ["a feed subject", "feeds.v1.Audit.Feed"],
    ["an operation subject", "operations.v1.Billing.Refund"],
    ["a jobs subject", "jobs.work"],
    ["a state subject", "state.get"],
    ["a kv subject", "kv.bucket"],
    ["a store subject", "store.blob"],
    ["a resources subject", "resources.kv"],
    ["a transfer subject", "transfer.v1.upload"],
  ])("drops a value %s", (_case, value) => {
    expect(lowCardinality(value)).toBe("other");
  });
});

describe("Metrics", () => {
  it("registers its instruments on the given registry", async () => {
    const registry = new Registry();
    const metrics = new Metrics(registry);
    expect(metrics.registry).toBe(registry);
    metrics.rpcServerRequest("Orders.Get", "ok", 0.002);
    metrics.rpcClientCall("Orders.Get", "error", 0.5);
    const text = await registry.metrics();
    expect(text).toContain('trellis_rpc_requests_total{method="Orders.Get",outcome="ok"} 1');
    expect(text).toContain('trellis_rpc_client_requests_total{method="Orders.Get",outcome="error"} 1');
    expect(text).toContain('trellis_rpc_duration_seconds_bucket{le="0.0025",method="Orders.Get"} 1');
  });

  it("labels failures with filtered attributes", async () => {
    const metrics = new Metrics();
    metrics.error({
      type: "AuthError",
      surface: "rpc",
      direction: "server",
      operation: "rpc.v1.Orders.Get",
      phase: "auth",
      authReason: "insufficient_permissions",
    });
    expect(await metrics.expose()).toContain(
      'trellis_errors_total{type="AuthError",surface="rpc",direction="server",operation="other",phase="auth",auth_reason="insufficient_permissions"} 1',
    );
  });
});
