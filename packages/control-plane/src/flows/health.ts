/** Liveness of what the HTTP server depends on (`GET /healthz`). */
import type { ControlPlaneContext } from "../context.js";

/** Health of the control plane's dependencies. */
export type HealthReport = { status: "ok" | "unavailable"; checks: { store: "ok" | "failed" } };

/** Checks that the SQLite store answers a query. */
export function checkHealth(ctx: ControlPlaneContext): HealthReport {
  let store: "ok" | "failed" = "ok";
  try {
    ctx.store.db.prepare("SELECT 1").get();
  } catch (error) {
    ctx.logger.warn({ err: error }, "Store health check failed");
    store = "failed";
  }
  return { status: store === "ok" ? "ok" : "unavailable", checks: { store } };
}
