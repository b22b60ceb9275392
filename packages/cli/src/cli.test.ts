/**
 * In-process tests of `main` with captured output: every command, both formats, and how errors
 * become exit codes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../test/support/run.js";
import { ExitCode, readPackageInfo } from "./index.js";
import { findDuplicateKey, parseJsonStrict } from "./json-file.js";

const conformance = new URL("../../../conformance/", import.meta.url);
const readConformance = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(path, conformance), "utf8"));
const referencePath = (id: string) => new URL(`reference-manifests/${id}.json`, conformance).pathname;

const run = (...args: string[]) => runCli(args);

type Manifest = { events: Record<string, unknown> } & Record<string, unknown>;

let dir: string;
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const health = () => readConformance("reference-manifests/trellis.health@v1.json") as Manifest;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-cli-unit-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("version", () => {
  const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

  it("reads the version from package.json", () => {
    expect(readPackageInfo()).toEqual({ name: "@trellis/cli", version });
  });

  it.each([["--version"], ["-v"], ["version"]])("trellis %s prints it", async (arg) => {
    expect(await run(arg)).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("trellis version --format json prints name and version", async () => {
    const { code, stdout } = await run("version", "--format", "json");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ name: "@trellis/cli", version });
  });
});

describe("contracts digest", () => {
  it("prints the digest of a manifest", async () => {
    const { code, stdout, stderr } = await run("contracts", "digest", referencePath("trellis.core@v1"));
    expect({ code, stdout, stderr }).toEqual({
      code: 0,
      stdout: "L4HW6uUIxDhK1Kpa_PUxpumoMberMgiCgJTNN5Qvje0\n",
      stderr: "",
    });
  });

  it("takes --format before or after the command", async () => {
    for (const args of [
      ["--format", "json", "contracts", "digest", referencePath("trellis.health@v1")],
      ["contracts", "digest", referencePath("trellis.health@v1"), "--format=json"],
    ]) {
      const { code, stdout } = await run(...args);
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toEqual({
        id: "trellis.health@v1",
        digest: "RHDzeH2V6Nltzk6WklCLbTIK48hF0hNuO9Qk6-BosT4",
      });
    }
  });

  it("refuses an invalid manifest with exit 1 and every problem", async () => {
    const path = file("digest-invalid.json", JSON.stringify({ format: "trellis.contract.v1" }));
    const { code, stdout, stderr } = await run("contracts", "digest", path);
    expect(code).toBe(ExitCode.Failed);
    expect(stdout).toBe("");
    const lines = stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^error: '.*digest-invalid\.json' is not a valid contract manifest \(\d+ problems\):$/,
    );
    expect(lines.slice(1)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/id: .* \[shape:[a-z_]+\]$/)]),
    );
  });

  it("reports an invalid manifest as a JSON error in json format", async () => {
    const path = file("digest-invalid.json", JSON.stringify({ format: "trellis.contract.v1" }));
    const { code, stdout, stderr } = await run("--format", "json", "contracts", "digest", path);
    expect(code).toBe(ExitCode.Failed);
    expect(stdout).toBe("");
    const { error } = JSON.parse(stderr);
    expect(error).toMatchObject({ code: "invalid-manifest", file: path });
    expect(error.problems).toEqual(expect.arrayContaining([expect.objectContaining({ path: "/id" })]));
  });
});

describe("contracts check", () => {
  it("prints ok, the id and the digest of a valid manifest", async () => {
    expect(await run("contracts", "check", referencePath("trellis.health@v1"))).toEqual({
      code: 0,
      stdout: "ok trellis.health@v1 RHDzeH2V6Nltzk6WklCLbTIK48hF0hNuO9Qk6-BosT4\n",
      stderr: "",
    });
  });

  it("lists every problem of an invalid manifest on stderr", async () => {
    const bad = health();
    bad.subjects = {};
    bad.events["Health.Heartbeat"] = {
      version: "v1",
      subject: "events.v1.Health.Heartbeat",
      event: { schema: "Missing" },
    };
    const path = file("check-invalid.json", JSON.stringify(bad));
    const { code, stdout, stderr } = await run("contracts", "check", path);
    expect(code).toBe(ExitCode.Failed);
    expect(stdout).toBe("");
    expect(stderr.split("\n")).toEqual([
      `'${path}' is not a valid contract manifest (2 problems):`,
      "/subjects: Contract subjects are not supported in v1 [forbidden-section]",
      "/events/Health.Heartbeat/event/schema: event 'Health.Heartbeat': unknown schema 'Missing' [schema-ref]",
      "",
    ]);
  });

  it("writes # for a problem of the whole document", async () => {
    const { code, stderr } = await run("contracts", "check", file("array.json", "[]"));
    expect(code).toBe(ExitCode.Failed);
    expect(stderr).toContain("\n#: Expected object JSON value [object]\n");
  });

  it("prints the verdict as JSON on stdout in json format", async () => {
    const valid = await run("--format", "json", "contracts", "check", referencePath("trellis.jobs@v1"));
    expect(valid.code).toBe(0);
    expect(JSON.parse(valid.stdout)).toEqual({
      valid: true,
      id: "trellis.jobs@v1",
      digest: "jSB8nKGOQqIxdFDdUqO-gOTt3Dijg--SOXJtJ1ChpoY",
    });

    const invalid = await run("--format", "json", "contracts", "check", file("array.json", "[]"));
    expect(invalid).toMatchObject({ code: ExitCode.Failed, stderr: "" });
    expect(JSON.parse(invalid.stdout)).toEqual({
      valid: false,
      problems: [{ path: "", rule: "object", message: "Expected object JSON value" }],
    });
  });
});

describe("contracts canonicalize", () => {
  it("prints canonical JSON in both formats", async () => {
    const path = file("value.json", '{ "b": [1, {"d": null, "c": true}], "a": "\\u00e9" }');
    for (const args of [[], ["--format", "json"]]) {
      expect(await run(...args, "contracts", "canonicalize", path)).toEqual({
        code: 0,
        stdout: '{"a":"é","b":[1,{"c":true,"d":null}]}\n',
        stderr: "",
      });
    }
  });

  it("refuses numbers canonical JSON cannot represent", async () => {
    const path = file("negative-zero.json", '{"a":[1,-0]}');
    const { code, stdout, stderr } = await run("contracts", "canonicalize", path);
    expect(code).toBe(ExitCode.Usage);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      `error: '${path}' cannot be canonicalized: -0 at /a/1 (canonical JSON has no -0, NaN or infinite numbers)\n`,
    );
    const huge = await run("--format", "json", "contracts", "canonicalize", file("huge.json", "1e400"));
    expect(huge.code).toBe(ExitCode.Usage);
    expect(JSON.parse(huge.stderr).error).toMatchObject({
      code: "not-canonicalizable",
      valueKind: "Infinity",
    });
  });
});

describe("contracts diff", () => {
  const old = referencePath("trellis.health@v1");
  const oldDigest = "RHDzeH2V6Nltzk6WklCLbTIK48hF0hNuO9Qk6-BosT4";

  it("reports identical manifests", async () => {
    expect(await run("contracts", "diff", old, old)).toEqual({
      code: 0,
      stdout: `identical: trellis.health@v1 ${oldDigest} -> ${oldDigest}\n`,
      stderr: "",
    });
  });

  it("reports an additive change with exit 0", async () => {
    const next = health();
    next.events["Health.Extra"] = {
      version: "v1",
      subject: "events.v1.Health.Extra",
      event: { schema: "HealthHeartbeat" },
    };
    const { code, stdout } = await run("contracts", "diff", old, file("additive.json", JSON.stringify(next)));
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^additive: trellis\\.health@v1 ${oldDigest} -> [\\w-]{43}$`));
    expect(lines.slice(1)).toEqual(["  additive /events/Health.Extra: event 'Health.Extra' added"]);
  });

  it("reports a breaking change with exit 1", async () => {
    const next = health();
    delete next.events["Health.Heartbeat"];
    const path = file("breaking.json", JSON.stringify(next));
    const { code, stdout } = await run("contracts", "diff", old, path);
    expect(code).toBe(ExitCode.Failed);
    expect(stdout).toMatch(/^breaking: trellis\.health@v1 /);
    expect(stdout).toContain("\n  breaking /events/Health.Heartbeat: ");

    const json = await run("contracts", "diff", old, path, "--format", "json");
    expect(json.code).toBe(ExitCode.Failed);
    const diff = JSON.parse(json.stdout);
    expect(diff).toMatchObject({
      classification: "breaking",
      old: { id: "trellis.health@v1", digest: oldDigest },
      new: { id: "trellis.health@v1" },
    });
    expect(diff.breaking).toEqual([
      expect.objectContaining({ kind: "breaking", path: "/events/Health.Heartbeat" }),
    ]);
    expect(diff.changes).toEqual(diff.breaking);
  });

  it("names the new id when the lineage changes", async () => {
    const { code, stdout } = await run("contracts", "diff", old, referencePath("trellis.jobs@v1"));
    expect(code).toBe(ExitCode.Failed);
    expect(stdout.split("\n")[0]).toBe(
      `breaking: trellis.health@v1 ${oldDigest} -> trellis.jobs@v1 jSB8nKGOQqIxdFDdUqO-gOTt3Dijg--SOXJtJ1ChpoY`,
    );
  });

  it("refuses an invalid manifest on either side", async () => {
    const path = file("diff-invalid.json", "{}");
    const { code, stdout, stderr } = await run("contracts", "diff", old, path);
    expect(code).toBe(ExitCode.Failed);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^error: '.*diff-invalid\.json' is not a valid contract manifest/);
  });
});

describe("input errors exit 2", () => {
  it("reports a file that cannot be read", async () => {
    const missing = join(dir, "missing.json");
    expect(await run("contracts", "check", missing)).toEqual({
      code: ExitCode.Usage,
      stdout: "",
      stderr: `error: cannot read '${missing}': no such file or directory\n`,
    });
    const folder = join(dir, "folder.json");
    mkdirSync(folder, { recursive: true });
    expect((await run("contracts", "digest", folder)).stderr).toBe(
      `error: cannot read '${folder}': is a directory\n`,
    );
  });

  it("reports invalid JSON with its position", async () => {
    const path = file("broken.json", '{\n  "a": 1,\n}');
    const { code, stderr } = await run("contracts", "canonicalize", path);
    expect(code).toBe(ExitCode.Usage);
    expect(stderr).toMatch(new RegExp(`^error: '${path}' is not valid JSON: .*line 3 column 1\\)\\n$`));
  });

  it("reports duplicate keys, which JSON.parse would silently drop", async () => {
    const path = file("duplicate.json", '{"a": {"x": 1, "\\u0078": 2}}');
    const { code, stderr } = await run("contracts", "canonicalize", path);
    expect(code).toBe(ExitCode.Usage);
    expect(stderr).toBe(
      `error: '${path}' is not valid JSON: duplicate key "x" at '/a/x' (line 1 column 16)\n`,
    );
  });

  it("prints errors as JSON on stderr in json format", async () => {
    const missing = join(dir, "missing.json");
    const { code, stdout, stderr } = await run("--format", "json", "contracts", "digest", missing);
    expect(code).toBe(ExitCode.Usage);
    expect(stdout).toBe("");
    expect(JSON.parse(stderr)).toEqual({
      error: {
        code: "cannot-read",
        message: `cannot read '${missing}': no such file or directory`,
        file: missing,
        reason: "no such file or directory",
      },
    });
  });
});

describe("usage errors exit 2", () => {
  it.each([
    [["contracts", "digest"], "error: missing required argument 'manifest'\n"],
    [["contracts", "frobnicate"], "error: unknown command 'frobnicate'\n"],
    [["contracts", "check", "a.json", "--bogus"], "error: unknown option '--bogus'\n"],
    [
      ["contracts", "check", "a.json", "b.json"],
      "error: too many arguments for 'check'. Expected 1 argument but got 2.\n",
    ],
    [
      ["--format", "yaml", "version"],
      expect.stringMatching(/^error: option '--format <format>' argument 'yaml' is invalid/),
    ],
  ])("trellis %j", async (args, stderr) => {
    expect(await run(...args)).toEqual({ code: ExitCode.Usage, stdout: "", stderr });
  });

  it("prints usage errors as JSON in json format", async () => {
    const { code, stdout, stderr } = await run("--format", "json", "contracts", "digest");
    expect({ code, stdout }).toEqual({ code: ExitCode.Usage, stdout: "" });
    expect(JSON.parse(stderr)).toEqual({
      error: {
        code: "usage",
        message: "missing required argument 'manifest'",
        commanderCode: "commander.missingArgument",
      },
    });
  });

  it("shows help on stderr when no command is given", async () => {
    const { code, stdout, stderr } = await run();
    expect({ code, stdout }).toEqual({ code: ExitCode.Usage, stdout: "" });
    expect(stderr).toContain("Usage: trellis [options] [command]");
  });

  it("documents the exit codes in help", async () => {
    for (const args of [["--help"], ["contracts", "check", "--help"], ["help", "contracts", "diff"]]) {
      const { code, stdout } = await run(...args);
      expect(code).toBe(0);
      expect(stdout).toContain("Exit codes:\n  0  success\n");
      expect(stdout).toContain("  2  usage error");
    }
    expect((await run("contracts", "diff", "--help")).stdout).toContain("  1  the change is breaking");
  });
});

describe("strict JSON parsing", () => {
  it("finds the first duplicate key with its JSON Pointer", () => {
    expect(findDuplicateKey('{"a":1,"b":2}')).toBeUndefined();
    expect(findDuplicateKey('[{"a":1},{"a":1}]')).toBeUndefined();
    expect(findDuplicateKey('{"s":"{\\"s\\":1,","t":["x\\\\",{"s":1}]}')).toBeUndefined();
    const nested = '[0, [1, {"k": {"a/b": 1, "a/b": 2}}]]';
    expect(findDuplicateKey(nested)).toEqual({
      key: "a/b",
      pointer: "/1/1/k/a~1b",
      offset: nested.lastIndexOf('"a/b"'),
    });
    expect(findDuplicateKey('{"a":{"b":1},"a":2}')).toMatchObject({ pointer: "/a" });
  });

  it("ignores a byte order mark", () => {
    expect(parseJsonStrict('\ufeff{"a":1}', "x.json")).toEqual({ a: 1 });
  });

  it("keeps __proto__ as an ordinary key", () => {
    expect(Object.keys(parseJsonStrict('{"__proto__":{"a":1}}', "x.json") as object)).toEqual(["__proto__"]);
  });
});
