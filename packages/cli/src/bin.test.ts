/**
 * End-to-end tests of the built `trellis` binary (`dist/bin.js`, built by `tsc -b` before the
 * tests run), spawned as a real process against the conformance data.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
const conformance = new URL("../../../conformance/", import.meta.url);
const conformancePath = (path: string) => fileURLToPath(new URL(path, conformance));
const readConformance = (path: string): unknown => JSON.parse(readFileSync(conformancePath(path), "utf8"));
const referencePath = (id: string) => conformancePath(`reference-manifests/${id}.json`);

function trellis(...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 15_000 });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

type Manifest = { events: Record<string, unknown> } & Record<string, unknown>;
const health = () => readConformance("reference-manifests/trellis.health@v1.json") as Manifest;

let dir: string;
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return path;
};

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run 'npx tsc -b packages/cli' first`);
  dir = mkdtempSync(join(tmpdir(), "trellis-cli-e2e-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("trellis binary", () => {
  it("--version prints the package version", () => {
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(trellis("--version")).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    expect(trellis("version")).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    const json = trellis("--format", "json", "version");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ name: "@trellis/cli", version });
  });

  describe("contracts digest reproduces the reference digests", () => {
    const digests = readConformance("reference-manifests/digests.json") as Record<string, string>;
    it("covers all five reference manifests", () => {
      expect(Object.keys(digests)).toHaveLength(5);
    });
    for (const [id, digest] of Object.entries(digests)) {
      it(id, () => {
        expect(trellis("contracts", "digest", referencePath(id))).toEqual({
          code: 0,
          stdout: `${digest}\n`,
          stderr: "",
        });
        const json = trellis("--format", "json", "contracts", "digest", referencePath(id));
        expect(json.code).toBe(0);
        expect(JSON.parse(json.stdout)).toEqual({ id, digest });
      });
    }
  });

  it("contracts digest reproduces the contract-digest vectors", () => {
    const vectors = readConformance("contract-digest/vectors.json") as {
      name: string;
      input: unknown;
      digest: string;
    }[];
    expect(vectors.length).toBeGreaterThan(0);
    vectors.forEach((vector, index) => {
      const path = file(`digest-vector-${index}.json`, vector.input);
      expect(trellis("contracts", "digest", path), vector.name).toEqual({
        code: 0,
        stdout: `${vector.digest}\n`,
        stderr: "",
      });
    });
  });

  it("contracts canonicalize reproduces the canonical-json vectors", () => {
    const vectors = readConformance("canonical-json/vectors.json") as {
      name: string;
      input: unknown;
      canonical: string;
    }[];
    expect(vectors.length).toBeGreaterThan(0);
    vectors.forEach((vector, index) => {
      const path = file(`canonical-vector-${index}.json`, vector.input);
      for (const format of ["text", "json"]) {
        expect(trellis("contracts", "canonicalize", path, "--format", format), vector.name).toEqual({
          code: 0,
          stdout: `${vector.canonical}\n`,
          stderr: "",
        });
      }
    });
  });

  it("contracts check accepts a valid manifest", () => {
    expect(trellis("contracts", "check", referencePath("trellis.state@v1"))).toEqual({
      code: 0,
      stdout: "ok trellis.state@v1 XfWDYLTBlYFjDqMPBEXrTBccZbFvHp0MnqscehdRKT4\n",
      stderr: "",
    });
    const json = trellis("--format", "json", "contracts", "check", referencePath("trellis.state@v1"));
    expect(JSON.parse(json.stdout)).toEqual({
      valid: true,
      id: "trellis.state@v1",
      digest: "XfWDYLTBlYFjDqMPBEXrTBccZbFvHp0MnqscehdRKT4",
    });
  });

  it("contracts check lists every problem of an invalid manifest and exits 1", () => {
    const bad = health();
    bad.subjects = {};
    bad.events["Health.Heartbeat"] = {
      version: "v1",
      subject: "not a subject",
      event: { schema: "Missing" },
    };
    const path = file("invalid.json", bad);

    const text = trellis("contracts", "check", path);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe("");
    const lines = text.stderr.trimEnd().split("\n");
    expect(lines).toEqual([
      `'${path}' is not a valid contract manifest (3 problems):`,
      "/subjects: Contract subjects are not supported in v1 [forbidden-section]",
      "/events/Health.Heartbeat/event/schema: event 'Health.Heartbeat': unknown schema 'Missing' [schema-ref]",
      expect.stringMatching(/^\/events\/Health\.Heartbeat\/subject: .*'not a subject'.* \[subject\]$/),
    ]);

    const json = trellis("--format", "json", "contracts", "check", path);
    expect(json.code).toBe(1);
    expect(json.stderr).toBe("");
    const verdict = JSON.parse(json.stdout);
    expect(verdict.valid).toBe(false);
    expect(
      verdict.problems.map((problem: { path: string; rule: string }) => [problem.path, problem.rule]),
    ).toEqual([
      ["/subjects", "forbidden-section"],
      ["/events/Health.Heartbeat/event/schema", "schema-ref"],
      ["/events/Health.Heartbeat/subject", "subject"],
    ]);
  });

  describe("contracts diff", () => {
    const old = referencePath("trellis.health@v1");

    it("exits 0 for an additive change", () => {
      const next = health();
      next.events["Health.Extra"] = {
        version: "v1",
        subject: "events.v1.Health.Extra",
        event: { schema: "HealthHeartbeat" },
      };
      const path = file("additive.json", next);
      const text = trellis("contracts", "diff", old, path);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(
        /^additive: trellis\.health@v1 RHDzeH2V6Nltzk6WklCLbTIK48hF0hNuO9Qk6-BosT4 -> [\w-]{43}\n {2}additive \/events\/Health\.Extra: .+\n$/,
      );
      const json = trellis("contracts", "diff", "--format", "json", old, path);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({
        classification: "additive",
        breaking: [],
        changes: [{ kind: "additive", path: "/events/Health.Extra" }],
        old: { id: "trellis.health@v1", digest: "RHDzeH2V6Nltzk6WklCLbTIK48hF0hNuO9Qk6-BosT4" },
        new: { id: "trellis.health@v1", digest: expect.stringMatching(/^[\w-]{43}$/) },
      });
    });

    it("exits 1 for a breaking change", () => {
      const next = health();
      delete next.events["Health.Heartbeat"];
      const path = file("breaking.json", next);
      const text = trellis("contracts", "diff", old, path);
      expect(text.code).toBe(1);
      expect(text.stdout.split("\n").slice(0, 2)).toEqual([
        expect.stringMatching(
          /^breaking: trellis\.health@v1 RHDzeH2V6Nltzk6WklCLbTIK48hF0hNuO9Qk6-BosT4 -> /,
        ),
        expect.stringMatching(/^ {2}breaking \/events\/Health\.Heartbeat: /),
      ]);
      const json = trellis("--format", "json", "contracts", "diff", old, path);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({
        classification: "breaking",
        breaking: [{ kind: "breaking", path: "/events/Health.Heartbeat" }],
      });
    });
  });

  it("exits 2 for a missing file, in both formats", () => {
    const missing = join(dir, "missing.json");
    expect(trellis("contracts", "digest", missing)).toEqual({
      code: 2,
      stdout: "",
      stderr: `error: cannot read '${missing}': no such file or directory\n`,
    });
    const json = trellis("--format", "json", "contracts", "diff", missing, referencePath("trellis.core@v1"));
    expect(json.code).toBe(2);
    expect(json.stdout).toBe("");
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "cannot-read", file: missing } });
  });

  it("exits 2 for invalid JSON and for usage errors", () => {
    const broken = trellis("contracts", "check", file("broken.json", "{"));
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/^error: '.*broken\.json' is not valid JSON: /);
    expect(trellis("contracts", "digest")).toMatchObject({ code: 2, stdout: "" });
    expect(trellis("--format", "toml", "version")).toMatchObject({ code: 2, stdout: "" });
  });
});
