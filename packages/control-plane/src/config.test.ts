import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadControlPlaneConfig, parseControlPlaneConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "trellis-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const account = `A${"B".repeat(55)}`;
function valid(): Record<string, unknown> {
  return {
    nats: {
      servers: "nats://127.0.0.1:4222",
      authCallout: {
        issuer: { nkey: account, signingSeedFile: "issuer.seed" },
        target: { nkey: account, signingSeedFile: "target.seed" },
        sxSeedFile: "sx.seed",
      },
      auth: { credsPath: "auth.creds" },
      trellis: { credsPath: "trellis.creds" },
      system: { credsPath: "sys.creds" },
      sentinelCredsPath: "sentinel.creds",
    },
    storage: { dbPath: "trellis.sqlite" },
  };
}

describe("control-plane configuration", () => {
  it("applies defaults and resolves paths against the config folder", () => {
    const config = parseControlPlaneConfig(valid(), { baseDir: "/etc/trellis" });
    expect(config.http).toEqual({ host: "127.0.0.1", port: 3000 });
    expect(config.storage.dbPath).toBe("/etc/trellis/trellis.sqlite");
    expect(config.nats.authCallout.sxSeedFile).toBe("/etc/trellis/sx.seed");
    expect(config.ttlMs.natsJwt).toBeLessThan(config.ttlMs.sessions);
    expect(config.jobs.janitorIntervalMs).toBe(30_000);
  });

  it("names every invalid field", () => {
    const raw = valid();
    const nats = raw.nats as Record<string, unknown>;
    delete nats.sentinelCredsPath;
    (nats.authCallout as Record<string, unknown>).issuer = { nkey: "not-a-key", signingSeedFile: "x" };
    raw.http = { port: 70000 };
    let error: unknown;
    try {
      parseControlPlaneConfig(raw);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toContain("nats.sentinelCredsPath");
    expect(problems).toContain("nats.authCallout.issuer.nkey: must be an account public key");
    expect(problems).toContain("http.port");
  });

  it("refuses a JWT lifetime that outlives sessions", () => {
    expect(() => parseControlPlaneConfig({ ...valid(), ttlMs: { sessions: 1000, natsJwt: 2000 } })).toThrow(
      "natsJwt must be shorter than sessions",
    );
  });

  it("reads JSONC with comments and applies TRELLIS_* overrides", () => {
    const file = join(dir, "trellis.jsonc");
    writeFileSync(file, `// comment\n${JSON.stringify(valid(), null, 2).replace(/}\s*$/, ",}")}`);
    const config = loadControlPlaneConfig(file, {
      TRELLIS_HTTP_PORT: "4100",
      TRELLIS_WEB_ORIGINS: "https://a.example, https://b.example",
      TRELLIS_JOBS_JANITOR_INTERVAL_MS: "5000",
    });
    expect(config.jobs.janitorIntervalMs).toBe(5000);
    expect(config.http.port).toBe(4100);
    expect(config.web.origins).toEqual(["https://a.example", "https://b.example"]);
    expect(config.storage.dbPath).toBe(join(dir, "trellis.sqlite"));
  });

  it("reports unreadable and malformed files clearly", () => {
    expect(() => loadControlPlaneConfig(join(dir, "missing.jsonc"), {})).toThrow(
      /Cannot read the configuration file/,
    );
    const bad = join(dir, "bad.jsonc");
    writeFileSync(bad, "{ nats: ");
    expect(() => loadControlPlaneConfig(bad, {})).toThrow(/is not valid JSONC/);
  });
});
