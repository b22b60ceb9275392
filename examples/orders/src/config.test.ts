import { describe, expect, it } from "vitest";
import { agentConfigFrom, ConfigError, DEFAULT_AGENT_SEED_FILE, serviceConfigFrom } from "./config.js";

const SEED = "x".repeat(43);

describe("serviceConfigFrom", () => {
  it("reads the URL, the seed and the name (default orders)", () => {
    expect(
      serviceConfigFrom({ TRELLIS_URL: "http://127.0.0.1:3000", TRELLIS_SESSION_KEY_SEED: SEED }).unwrap(),
    ).toEqual({ trellisUrl: "http://127.0.0.1:3000", sessionKeySeed: SEED, name: "orders" });
    const named = serviceConfigFrom({
      TRELLIS_URL: "https://trellis.example",
      TRELLIS_SESSION_KEY_SEED: ` ${SEED}\n`,
      TRELLIS_SERVICE_NAME: "orders-2",
    });
    expect(named.unwrap()).toEqual({
      trellisUrl: "https://trellis.example",
      sessionKeySeed: SEED,
      name: "orders-2",
    });
  });

  it("names every missing variable", () => {
    const none = serviceConfigFrom({});
    expect(none.isErr() && none.error).toBeInstanceOf(ConfigError);
    expect(none.isErr() && none.error.message).toMatch(
      /^TRELLIS_URL and TRELLIS_SESSION_KEY_SEED are not set/,
    );
    const noSeed = serviceConfigFrom({
      TRELLIS_URL: "http://127.0.0.1:3000",
      TRELLIS_SESSION_KEY_SEED: "  ",
    });
    expect(noSeed.isErr() && noSeed.error.message).toMatch(/^TRELLIS_SESSION_KEY_SEED is not set/);
  });

  it("refuses a URL that is not http(s) and a malformed name", () => {
    const notUrl = serviceConfigFrom({ TRELLIS_URL: "not a url", TRELLIS_SESSION_KEY_SEED: SEED });
    expect(notUrl.isErr() && notUrl.error.message).toBe("TRELLIS_URL 'not a url' is not a URL");
    const nats = serviceConfigFrom({ TRELLIS_URL: "nats://127.0.0.1:4222", TRELLIS_SESSION_KEY_SEED: SEED });
    expect(nats.isErr() && nats.error.message).toBe(
      "TRELLIS_URL 'nats://127.0.0.1:4222' must be an http(s) URL",
    );
    const badName = serviceConfigFrom({
      TRELLIS_URL: "http://127.0.0.1:3000",
      TRELLIS_SESSION_KEY_SEED: SEED,
      TRELLIS_SERVICE_NAME: "orders.v1",
    });
    expect(badName.isErr() && badName.error.message).toMatch(/TRELLIS_SERVICE_NAME 'orders.v1'/);
  });
});

describe("agentConfigFrom", () => {
  it("takes the URL from the argument before the environment, and a seed file", () => {
    expect(
      agentConfigFrom(["http://a.test", "--seed-file", "/tmp/s"], { TRELLIS_URL: "http://b.test" }).unwrap(),
    ).toEqual({ trellisUrl: "http://a.test", seedFile: "/tmp/s" });
    expect(
      agentConfigFrom([], { TRELLIS_URL: "http://b.test", ORDERS_AGENT_SEED_FILE: "/tmp/e" }).unwrap(),
    ).toEqual({
      trellisUrl: "http://b.test",
      seedFile: "/tmp/e",
    });
    expect(agentConfigFrom([], { TRELLIS_URL: "http://b.test" }).unwrap().seedFile).toBe(
      DEFAULT_AGENT_SEED_FILE,
    );
  });

  it("refuses a missing URL, extra arguments and unknown options", () => {
    const missing = agentConfigFrom([], {});
    expect(missing.isErr() && missing.error.message).toMatch(/^TRELLIS_URL is not set/);
    const extra = agentConfigFrom(["http://a.test", "more"], {});
    expect(extra.isErr() && extra.error.message).toBe("unexpected arguments: more");
    const unknown = agentConfigFrom(["--seed", "x"], {});
    expect(unknown.isErr() && unknown.error).toBeInstanceOf(ConfigError);
    expect(unknown.isErr() && unknown.error.message).toMatch(/--seed/);
  });
});
