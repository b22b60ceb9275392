/** The control plane's own health checks, reported by `Auth.Health` (and the service heartbeat). */
import type { HealthCheck } from "@trellis/runtime";
import type { ControlPlaneStore } from "../store/store.js";

/** Name of the store check. */
export const STORE_HEALTH_CHECK = "sqlite";

/** A check that the SQLite store answers a trivial query. */
export function storeHealthCheck(store: ControlPlaneStore): HealthCheck {
  return () => {
    store.db.prepare("SELECT 1").get();
    return { status: "ok", summary: "SQLite store answers" };
  };
}
