/**
 * `trellis.core@v1` served by the control plane on the real stack: `Trellis.Catalog`,
 * `Trellis.Contract.Get` and `Trellis.Surface.Status` called by signed-in clients, with service
 * contracts activated, materialized and offered in the store the way deployment authority does.
 */
import { BUILTIN_CONTRACTS, trellisAuth, trellisCore } from "@trellis/builtin-contracts";
import { defineAgentContract, defineServiceContract } from "@trellis/contracts";
import { type TrellisClient, ValidationError } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { EMPTY_GRANTS } from "../src/store/materialized-repository.js";
import { signIn } from "./support/platform-sign-in.js";

const Any = z.object({});
const weather = defineServiceContract({ schemas: { Any } }, (ref) => ({
  id: "acme.weather@v1",
  displayName: "Weather",
  description: "Forecasts.",
  capabilities: { read: { displayName: "Read forecasts", description: "Read the forecasts." } },
  rpc: {
    "Weather.Ping": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") },
    "Weather.Get": {
      version: "v1",
      input: ref.schema("Any"),
      output: ref.schema("Any"),
      capabilities: { call: ["read"] },
    },
  },
}));
/** Declares `Weather.Ping` as well: its subject collides with weather's. */
const clash = defineServiceContract({ schemas: { Any } }, (ref) => ({
  id: "acme.clash@v1",
  displayName: "Clash",
  description: "Collides with weather.",
  rpc: { "Weather.Ping": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") } },
}));
const absent = defineServiceContract({ schemas: { Any } }, (ref) => ({
  id: "acme.absent@v1",
  displayName: "Absent",
  description: "Never installed.",
  rpc: { "Absent.Call": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") } },
}));
/** Requires a contract that is not in the catalog. */
const dependent = defineServiceContract({}, () => ({
  id: "acme.dependent@v1",
  displayName: "Dependent",
  description: "Needs acme.absent.",
  uses: { required: { absent: absent.use({ rpc: { call: ["Absent.Call"] } }) } },
}));

const explorer = defineAgentContract({}, () => ({
  id: "catalog-explorer@v1",
  displayName: "Catalog explorer",
  description: "Reads the catalog.",
  uses: {
    required: {
      core: trellisCore.use({
        rpc: { call: ["Trellis.Catalog", "Trellis.Contract.Get", "Trellis.Surface.Status"] },
      }),
    },
  },
}));

let platform: PlatformHandle;
/** The platform's store (typed as `@trellis/testing` sees it). */
let store: PlatformHandle["controlPlane"]["context"]["store"];
let client: TrellisClient<typeof explorer>;

/** Creates a deployment and activates `module` in it, as accepting a plan does. */
function activate(deploymentId: string, module: typeof weather | typeof clash | typeof dependent): void {
  store.serviceDeployments.create({ deploymentId, namespaces: [] }).unwrap();
  store.authorities.ensure(deploymentId);
  store.contracts.put(module.CONTRACT);
  store.authorities.activateContract(deploymentId, module.CONTRACT_ID, module.CONTRACT_DIGEST);
}

async function status(contractId: string, kind: "rpc" | "event", surface: string, action?: "publish") {
  const reply = await client.rpc.trellis.surfaceStatus({
    contractId,
    kind,
    surface,
    ...(action && { action }),
  });
  return reply.unwrap().status;
}

beforeAll(async () => {
  platform = await startPlatform();
  store = platform.controlPlane.context.store;
  const { username, password } = platform.admin!;
  client = await signIn(platform, explorer, username, password);
}, 60_000);

afterAll(async () => {
  await client?.nc.close().catch(() => undefined);
  await platform?.stop();
});

describe("Trellis.Catalog", () => {
  it("lists the built-in contracts as trellis.catalog.v1", async () => {
    const { catalog } = await client.rpc.trellis.catalog({}).unwrap();
    expect(catalog.format).toBe("trellis.catalog.v1");
    expect(catalog.contracts).toEqual(
      BUILTIN_CONTRACTS.map((module) => ({
        id: module.CONTRACT_ID,
        digest: module.CONTRACT_DIGEST,
        displayName: module.CONTRACT.displayName,
        description: module.CONTRACT.description,
      })).sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    expect(catalog.issues).toBeUndefined();
  });

  it("lists an activated service contract, and not once its deployment is disabled", async () => {
    activate("weather", weather);
    const { catalog } = await client.rpc.trellis.catalog({}).unwrap();
    expect(catalog.contracts).toContainEqual({
      id: "acme.weather@v1",
      digest: weather.CONTRACT_DIGEST,
      displayName: "Weather",
      description: "Forecasts.",
    });
    store.serviceDeployments.setDisabled("weather", true);
    const disabled = await client.rpc.trellis.catalog({}).unwrap();
    expect(disabled.catalog.contracts.map((entry) => entry.id)).not.toContain("acme.weather@v1");
    store.serviceDeployments.setDisabled("weather", false);
  });
});

describe("Trellis.Contract.Get", () => {
  it("returns the manifest of a digest in the catalog", async () => {
    const core = await client.rpc.trellis.contractGet({ digest: trellisCore.CONTRACT_DIGEST }).unwrap();
    expect(core.contract).toMatchObject({ id: "trellis.core@v1", kind: "service" });
    const service = await client.rpc.trellis.contractGet({ digest: weather.CONTRACT_DIGEST }).unwrap();
    expect(service.contract.rpc).toHaveProperty(["Weather.Get"]);
  });

  it("refuses an unknown digest, and a stored manifest that is not in the catalog", async () => {
    const unknown = await client.rpc.trellis.contractGet({ digest: "NoSuchDigest" });
    expect(unknown.isErr() && unknown.error).toBeInstanceOf(ValidationError);
    expect(unknown.isErr() && unknown.error.message).toContain(
      "no contract with digest 'NoSuchDigest' is in the catalog",
    );
    // The explorer's own manifest was stored at sign-in, but presenting a contract does not install it.
    const presented = await client.rpc.trellis.contractGet({ digest: explorer.CONTRACT_DIGEST });
    expect(presented.isErr() && presented.error.message).toContain("is in the catalog");
  });
});

describe("Trellis.Surface.Status", () => {
  it("reports unknown contracts and surfaces", async () => {
    expect(await status("acme.nowhere@v1", "rpc", "X.Y")).toEqual({
      state: "unknown_contract",
      contractId: "acme.nowhere@v1",
    });
    expect(await status("acme.weather@v1", "rpc", "Weather.Nope")).toEqual({
      state: "unknown_surface",
      contractId: "acme.weather@v1",
      kind: "rpc",
      surface: "Weather.Nope",
    });
  });

  it("reports the capabilities the caller's session lacks", async () => {
    const required = weather.CONTRACT.rpc?.["Weather.Get"]?.capabilities?.call ?? [];
    expect(required.length).toBe(1);
    expect(await status("acme.weather@v1", "rpc", "Weather.Get")).toEqual({
      state: "unauthorized",
      missingCapabilities: required,
    });
    // The explorer's session was delegated only what its contract uses, not the admin's `admin`.
    expect(await status("trellis.auth@v1", "rpc", "Auth.Users.List")).toEqual({
      state: "unauthorized",
      missingCapabilities: ["admin"],
    });
  });

  it("reports the control plane's own surfaces as live", async () => {
    expect(await status(trellisAuth.CONTRACT_ID, "rpc", "Auth.Sessions.Me")).toEqual({
      state: "available",
      liveImplementer: true,
      runtime: "live",
    });
  });

  it("follows the deployment's authority and its implementers' liveness", async () => {
    expect(await status("acme.weather@v1", "rpc", "Weather.Ping")).toEqual({
      state: "unavailable",
      reason: "authority_unavailable",
    });
    const version = store.authorities.get("weather")!.version;
    store.materialized.put({
      deploymentId: "weather",
      desiredVersion: version,
      status: "current",
      grants: EMPTY_GRANTS,
      resourceBindings: {},
      reconciledAt: new Date().toISOString(),
    });
    expect(await status("acme.weather@v1", "rpc", "Weather.Ping")).toEqual({
      state: "available",
      liveImplementer: false,
      runtime: "no_live_implementer",
    });

    const instance = store.serviceInstances
      .provision({ deploymentId: "weather", instanceKey: "weather-instance-key-1" })
      .unwrap();
    const key = {
      deploymentId: "weather",
      instanceId: instance.instanceId,
      contractId: weather.CONTRACT_ID,
      contractDigest: weather.CONTRACT_DIGEST,
    };
    store.offers.upsertAccepted(key);
    store.offers.setLiveness(instance.instanceId, "healthy");
    expect(await status("acme.weather@v1", "rpc", "Weather.Ping")).toEqual({
      state: "available",
      liveImplementer: true,
      runtime: "live",
    });
    store.serviceInstances.setDisabled(instance.instanceId, true);
    expect(await status("acme.weather@v1", "rpc", "Weather.Ping")).toMatchObject({ runtime: "disabled" });
    store.serviceInstances.setDisabled(instance.instanceId, false);
    store.offers.setLiveness(instance.instanceId, "disconnected");
    expect(await status("acme.weather@v1", "rpc", "Weather.Ping")).toMatchObject({
      liveImplementer: false,
      runtime: "no_live_implementer",
    });
  });

  it("refuses an action that does not apply to the surface kind", async () => {
    const reply = await client.rpc.trellis.surfaceStatus({
      contractId: "acme.weather@v1",
      kind: "rpc",
      surface: "Weather.Ping",
      action: "publish",
    });
    expect(reply.isErr() && reply.error).toBeInstanceOf(ValidationError);
    expect(reply.isErr() && reply.error.message).toContain("action 'publish' does not apply to rpc surfaces");
  });
});

describe("catalog issues", () => {
  it("reports subject collisions and required uses that do not resolve", async () => {
    activate("clash", clash);
    activate("dependent", dependent);
    const { catalog } = await client.rpc.trellis.catalog({}).unwrap();
    const issues = catalog.issues ?? [];
    const collision = issues.find((issue) => issue.kind === "incompatible-active-contract");
    expect(collision?.message).toBe(
      "RPC subject 'rpc.v1.Weather.Ping' already owned by 'Weather (acme.weather@v1)'",
    );
    expect(collision).toMatchObject({
      contractId: "acme.clash@v1",
      digest: clash.CONTRACT_DIGEST,
      deploymentIds: ["clash"],
      conflictingDigest: weather.CONTRACT_DIGEST,
      conflictingDeploymentIds: ["weather"],
    });
    expect(issues.filter((issue) => issue.kind === "incompatible-active-contract")).toHaveLength(1);
    expect(issues.find((issue) => issue.kind === "invalid-active-contract-uses")).toMatchObject({
      contractId: "acme.dependent@v1",
      deploymentIds: ["dependent"],
      message: "Dependency 'absent' references unknown contract 'acme.absent@v1'",
    });
  });
});
