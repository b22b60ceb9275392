import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MaterializedAuthorityView } from "../authority/reconciler.js";
import { StoreCorruptionError } from "./errors.js";
import { type ControlPlaneStore, openStore } from "./store.js";

const T0 = new Date("2030-01-01T00:00:00.000Z");

let dir: string;
let store: ControlPlaneStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-materialized-"));
  store = openStore(join(dir, "trellis.sqlite"), { clock: () => T0 });
  store.serviceDeployments.create({ deploymentId: "orders", namespaces: ["Orders"] }).unwrap();
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function view(overrides: Partial<MaterializedAuthorityView> = {}): MaterializedAuthorityView {
  return {
    deploymentId: "orders",
    desiredVersion: "01J00000000000000000000000",
    status: "current",
    grants: {
      capabilities: ["billing::charge"],
      surfaces: [{ contractId: "orders@v1", kind: "rpc", name: "Orders.Get" }],
      nats: [
        {
          direction: "subscribe",
          subject: "rpc.v1.Orders.Get",
          requiredCapabilities: ["service"],
          grantSource: "contract",
          surface: { contractId: "orders@v1", kind: "rpc", name: "Orders.Get", action: "handle" },
        },
        {
          direction: "publish",
          subject: "$KV.svc_orders_carts.>",
          requiredCapabilities: ["service"],
          grantSource: "resource",
        },
      ],
    },
    resourceBindings: { kv: { carts: { bucket: "svc_orders_carts", history: 2, ttlMs: 60_000 } } },
    reconciledAt: T0.toISOString(),
    ...overrides,
  };
}

describe("MaterializedAuthorityRepository", () => {
  it("round-trips a materialization and replaces it on put", () => {
    expect(store.materialized.get("orders")).toBeUndefined();
    store.materialized.put(view());
    expect(store.materialized.get("orders")).toEqual(view());
    const failed = view({ status: "failed", error: "KV bucket 'svc_orders_carts' could not be created" });
    store.materialized.put(failed);
    expect(store.materialized.get("orders")).toEqual(failed);
    store.materialized.put(view({ desiredVersion: "01J00000000000000000000001" }));
    const current = store.materialized.get("orders");
    expect(current?.error).toBeUndefined();
    expect(current?.desiredVersion).toBe("01J00000000000000000000001");
  });

  it("marks a deployment pending for a new version, keeping previous grants, or empty ones", () => {
    const pending = store.materialized.markPending("orders", "01J00000000000000000000009");
    expect(pending).toEqual({
      deploymentId: "orders",
      desiredVersion: "01J00000000000000000000009",
      status: "pending",
      grants: { capabilities: [], surfaces: [], nats: [] },
      resourceBindings: {},
      reconciledAt: T0.toISOString(),
    });
    store.materialized.put(view());
    const again = store.materialized.markPending("orders", "01J0000000000000000000000A");
    expect(again.status).toBe("pending");
    expect(again.grants).toEqual(view().grants);
  });

  it("is removed with its deployment and refuses unknown deployments (foreign key)", () => {
    store.materialized.put(view());
    store.serviceDeployments.remove("orders").unwrap();
    expect(store.materialized.get("orders")).toBeUndefined();
    expect(() => store.materialized.put(view({ deploymentId: "ghost" }))).toThrow(/FOREIGN KEY/);
  });

  it("deletes explicitly", () => {
    store.materialized.put(view());
    expect(store.materialized.delete("orders")).toBe(true);
    expect(store.materialized.delete("orders")).toBe(false);
  });

  it("treats a malformed grants column as corruption", () => {
    store.materialized.put(view());
    store.db.prepare("UPDATE materialized_authority SET grants_json = '{\"nats\":1}'").run();
    expect(() => store.materialized.get("orders")).toThrow(StoreCorruptionError);
  });
});
