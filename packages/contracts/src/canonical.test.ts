import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalizeJson, digestJson, isJsonValue, NonJsonValueError } from "./canonical.js";

const vectors: { name: string; input: unknown; canonical: string; digest: string }[] = JSON.parse(
  readFileSync(new URL("../../../conformance/canonical-json/vectors.json", import.meta.url), "utf8"),
);

describe("canonical JSON vectors", () => {
  for (const vector of vectors) {
    it(`${vector.name}: canonical text`, () => expect(canonicalizeJson(vector.input)).toBe(vector.canonical));
    it(`${vector.name}: digest`, () => expect(digestJson(vector.input)).toBe(vector.digest));
  }
});

describe("canonical JSON rendering", () => {
  it("sorts keys by UTF-16 code units, not by locale", () => {
    expect(canonicalizeJson({ b: 1, B: 2, a: 3, "\u00e9": 4, "\ud83d\ude00": 5, "\uffff": 6 })).toBe(
      '{"B":2,"a":3,"b":1,"é":4,"😀":5,"\uffff":6}',
    );
  });

  it("escapes like JSON.stringify and leaves other characters raw", () => {
    expect(canonicalizeJson({ s: 'q"\\\n\t\u0001\u2028é' })).toBe('{"s":"q\\"\\\\\\n\\t\\u0001\u2028é"}');
  });

  it("renders numbers the way JavaScript does", () => {
    expect(canonicalizeJson([1, 1.5, 1e21, 1e-7, -3, 0])).toBe("[1,1.5,1e+21,1e-7,-3,0]");
  });

  it("keeps array order and adds no whitespace", () => {
    expect(canonicalizeJson({ a: [3, 1, 2], b: { d: null, c: true } })).toBe(
      '{"a":[3,1,2],"b":{"c":true,"d":null}}',
    );
  });

  it("is independent of key insertion order (property)", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string(),
          fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v))),
        ),
        (record) => {
          const reversed = Object.fromEntries(Object.entries(record).reverse());
          expect(canonicalizeJson(reversed)).toBe(canonicalizeJson(record));
        },
      ),
    );
  });

  it("round-trips through JSON.parse (property)", () => {
    fc.assert(
      fc.property(
        fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v))),
        (value) => {
          const text = canonicalizeJson(value);
          expect(canonicalizeJson(JSON.parse(text))).toBe(text);
        },
      ),
    );
  });
});

describe("non-JSON values are refused with the path", () => {
  class Point {
    x = 1;
  }
  const cyclic: Record<string, unknown> = { a: {} };
  (cyclic.a as Record<string, unknown>).self = cyclic;
  const cases: [string, unknown, string, string][] = [
    ["-0", { a: [1, -0] }, "/a/1", "-0"],
    ["NaN", { n: Number.NaN }, "/n", "NaN"],
    ["Infinity", { n: Number.POSITIVE_INFINITY }, "/n", "Infinity"],
    ["-Infinity", { n: Number.NEGATIVE_INFINITY }, "/n", "-Infinity"],
    ["undefined", { u: undefined }, "/u", "undefined"],
    ["function", { f: () => 1 }, "/f", "function"],
    ["symbol value", { s: Symbol("x") }, "/s", "symbol"],
    ["symbol key", { [Symbol("k")]: 1 }, "", "symbol"],
    ["bigint", { b: 1n }, "/b", "bigint"],
    ["cycle", cyclic, "/a/self", "cycle"],
    ["class instance", { p: new Point() }, "/p", "Point"],
    ["Date", { d: new Date(0) }, "/d", "Date"],
    ["Map", { m: new Map() }, "/m", "Map"],
    ["sparse array hole", { a: [1, , 3] }, "/a/1", "undefined"],
    ["escaped key path", { "a/b": { "c~d": Number.NaN } }, "/a~1b/c~0d", "NaN"],
  ];
  for (const [name, value, path, kind] of cases) {
    it(name, () => {
      expect(isJsonValue(value)).toBe(false);
      let caught: unknown;
      try {
        canonicalizeJson(value);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(NonJsonValueError);
      expect((caught as NonJsonValueError).path).toBe(path);
      expect((caught as NonJsonValueError).valueKind).toBe(kind);
      expect((caught as Error).message).toContain(path || "/");
    });
  }

  it("uses the reference message for numbers", () => {
    expect(() => canonicalizeJson(-0)).toThrow("Non-canonical number in manifest: -0");
  });
});
