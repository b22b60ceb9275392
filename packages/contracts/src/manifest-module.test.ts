import { describe, expect, it } from "vitest";
import { z } from "zod";
import { contractModuleFromManifest, defineAgentContract, defineServiceContract } from "./define.js";
import { defineError, errorClassFromManifest, TrellisError } from "./errors.js";

const MissingError = defineError({
  type: "MissingError",
  fields: { key: z.string() },
  message: (data) => `missing ${data.key}`,
});

const service = defineServiceContract(
  {
    schemas: { Key: z.object({ key: z.string() }), Value: z.object({ value: z.number() }) },
    errors: { MissingError },
  },
  (ref) => ({
    id: "sample.store@v1",
    displayName: "Store",
    description: "A sample service.",
    rpc: {
      "Store.Get": {
        version: "v1",
        input: ref.schema("Key"),
        output: ref.schema("Value"),
        errors: [ref.error("MissingError"), ref.error("ValidationError")],
      },
    },
    events: { "Store.Changed": { version: "v1", event: ref.schema("Key") } },
  }),
);

describe("contractModuleFromManifest", () => {
  it("rebuilds the owned API of a source module, with declared errors as classes", () => {
    const module = contractModuleFromManifest(service.CONTRACT);
    expect(module.CONTRACT_DIGEST).toBe(service.CONTRACT_DIGEST);
    const { runtimeErrors, ...descriptor } = module.API.owned.rpc[
      "Store.Get"
    ] as (typeof module.API.owned.rpc)[string];
    const { runtimeErrors: _source, ...expected } = service.API.owned.rpc["Store.Get"];
    expect(descriptor).toEqual(expected);
    expect(Object.keys(runtimeErrors)).toEqual(["MissingError"]);
    expect(module.API.owned.events).toEqual(service.API.owned.events);
  });

  it("derives the used API from the dependencies given by alias", () => {
    const agent = defineAgentContract({}, () => ({
      id: "sample.agent@v1",
      displayName: "Agent",
      description: "Uses the store.",
      uses: { required: { store: service.use({ rpc: { call: ["Store.Get"] } }) } },
    }));
    const module = contractModuleFromManifest(agent.CONTRACT, { dependencies: { store: service } });
    expect(Object.keys(module.API.used.rpc)).toEqual(["Store.Get"]);
    expect(module.API.trellis.rpc["Store.Get"]).toBe(service.API.owned.rpc["Store.Get"]);
    expect(module.DEPENDENCIES).toEqual({ store: service });
    expect(() => contractModuleFromManifest(agent.CONTRACT, { dependencies: { other: service } })).toThrow(
      "has no use 'other'",
    );
  });

  it("refuses a dependency that lacks a selected surface", () => {
    const agent = defineAgentContract({}, () => ({
      id: "sample.agent@v1",
      displayName: "Agent",
      description: "Uses the store.",
      uses: { required: { store: service.use({ events: { subscribe: ["Store.Changed"] } }) } },
    }));
    const bare = contractModuleFromManifest({ ...service.CONTRACT, events: {} });
    expect(() => contractModuleFromManifest(agent.CONTRACT, { dependencies: { store: bare } })).toThrow(
      "does not expose events key 'Store.Changed'",
    );
  });
});

describe("errorClassFromManifest", () => {
  const Missing = errorClassFromManifest<"MissingError", { key: string }>(service.CONTRACT, "MissingError");

  it("decodes a payload valid against the declared schema", () => {
    const wire = new MissingError({ key: "a" }).toSerializable();
    const error = Missing.fromSerializable({ ...wire, traceId: "t1" });
    expect(error).toBeInstanceOf(TrellisError);
    expect(error).toBeInstanceOf(Missing);
    expect(error.name).toBe("MissingError");
    expect(error.data).toEqual({ key: "a" });
    expect(error.message).toBe("missing a");
    expect(error.traceId).toBe("t1");
    expect(error.toSerializable()).toEqual({ ...wire, traceId: "t1" });
  });

  it("refuses a payload that does not match, and an undeclared type", () => {
    expect(() => Missing.fromSerializable({ id: "1", type: "MissingError", message: "m" })).toThrow();
    expect(() => errorClassFromManifest(service.CONTRACT, "OtherError")).toThrow("declares no error of type");
  });
});
