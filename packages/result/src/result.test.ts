import { describe, expect, expectTypeOf, it } from "vitest";
import { AsyncResult } from "./async-result.js";
import { BaseError, UnexpectedError } from "./errors.js";
import { Err, err, isErr, isOk, Ok, ok, Result } from "./result.js";

class ParseError extends BaseError {}
class RangeError_ extends BaseError {}

function parse(input: string): Result<number, ParseError> {
  const n = Number(input);
  return Number.isNaN(n) ? Result.err(new ParseError(`not a number: ${input}`)) : Result.ok(n);
}

function positive(n: number): Result<number, RangeError_> {
  return n > 0 ? Result.ok(n) : Result.err(new RangeError_("not positive"));
}

describe("constructors", () => {
  it("Result.ok / Result.err build the two variants", () => {
    const good = Result.ok(1);
    const bad = Result.err("nope");
    expect(good).toBeInstanceOf(Ok);
    expect(good.ok).toBe(true);
    expect(good.value).toBe(1);
    expect(bad).toBeInstanceOf(Err);
    expect(bad.ok).toBe(false);
    expect(bad.error).toBe("nope");
    expectTypeOf(good).toEqualTypeOf<Ok<number, never>>();
    expectTypeOf(bad).toEqualTypeOf<Err<never, string>>();
  });

  it("Result.ok() with no argument is Ok<void>", () => {
    const done = Result.ok();
    expect(done.ok).toBe(true);
    expect(done.value).toBeUndefined();
    expectTypeOf(done).toEqualTypeOf<Ok<void, never>>();
    const typed: Result<void, ParseError> = done;
    expect(typed.isOk()).toBe(true);
  });

  it("standalone ok / err match the namespace versions", () => {
    expect(ok).toBe(Result.ok);
    expect(err).toBe(Result.err);
    expect(ok(2).value).toBe(2);
    expect(err("e").error).toBe("e");
  });
});

describe("type guards", () => {
  it("isOk / isErr methods narrow the union", () => {
    const r: Result<number, ParseError> = parse("12");
    expect(r.isOk()).toBe(true);
    expect(r.isErr()).toBe(false);
    if (r.isOk()) {
      expectTypeOf(r).toEqualTypeOf<Ok<number, ParseError>>();
      expect(r.value).toBe(12);
    }
    const e = parse("x");
    expect(e.isOk()).toBe(false);
    expect(e.isErr()).toBe(true);
    if (e.isErr()) {
      expectTypeOf(e.error).toEqualTypeOf<ParseError>();
      expect(e.error).toBeInstanceOf(ParseError);
    }
  });

  it("the ok discriminant narrows the union", () => {
    const r = parse("x");
    if (r.ok) throw new Error("expected Err");
    expectTypeOf(r).toEqualTypeOf<Err<number, ParseError>>();
    expect(r.error.message).toBe("not a number: x");
  });

  it("standalone isOk / isErr narrow too", () => {
    const r = parse("3");
    expect(isOk(r)).toBe(true);
    expect(isErr(r)).toBe(false);
    expect(isOk(parse("x"))).toBe(false);
    expect(isErr(parse("x"))).toBe(true);
    if (isErr(r)) expectTypeOf(r).toEqualTypeOf<Err<number, ParseError>>();
  });

  it("Result.isResult recognizes Ok and Err only", () => {
    expect(Result.isResult(Result.ok(1))).toBe(true);
    expect(Result.isResult(Result.err(1))).toBe(true);
    expect(Result.isResult({ ok: true, value: 1 })).toBe(false);
    expect(Result.isResult(null)).toBe(false);
    expect(Result.isResult(AsyncResult.ok(1))).toBe(false);
  });
});

describe("map / mapErr", () => {
  it("map transforms Ok and skips Err", () => {
    const doubled = parse("4").map((n) => n * 2);
    expect(doubled.unwrap()).toBe(8);
    expectTypeOf(doubled).toEqualTypeOf<Result<number, ParseError>>();
    let called = false;
    const failed = parse("x").map((n) => {
      called = true;
      return String(n);
    });
    expect(called).toBe(false);
    expect(failed.isErr()).toBe(true);
    expectTypeOf(failed).toEqualTypeOf<Result<string, ParseError>>();
  });

  it("mapErr transforms Err and skips Ok", () => {
    const mapped = parse("x").mapErr((e) => e.message.toUpperCase());
    expect(mapped.take()).toBe("NOT A NUMBER: X");
    expectTypeOf(mapped).toEqualTypeOf<Result<number, string>>();
    let called = false;
    const untouched = parse("5").mapErr(() => {
      called = true;
      return 0;
    });
    expect(called).toBe(false);
    expect(untouched.unwrap()).toBe(5);
  });

  it("exceptions thrown by callbacks propagate", () => {
    expect(() =>
      Result.ok(1).map(() => {
        throw new Error("bug");
      }),
    ).toThrow("bug");
  });
});

describe("andThen", () => {
  it("chains Ok through fn and unions the error types", () => {
    const r = parse("3").andThen(positive);
    expect(r.unwrap()).toBe(3);
    expectTypeOf(r).toEqualTypeOf<Result<number, ParseError | RangeError_>>();
  });

  it("returns the error produced by fn", () => {
    const r = parse("-3").andThen(positive);
    expect(r.isErr() && r.error).toBeInstanceOf(RangeError_);
  });

  it("short-circuits on Err without calling fn", () => {
    let called = false;
    const r = parse("x").andThen((n) => {
      called = true;
      return positive(n);
    });
    expect(called).toBe(false);
    expect(r.take()).toBeInstanceOf(ParseError);
  });

  it("infers from an un-annotated callback returning either variant", () => {
    const r = parse("1").andThen((n) => (n > 10 ? Result.err("too big" as const) : Result.ok(String(n))));
    expectTypeOf(r).toEqualTypeOf<Result<string, ParseError | "too big">>();
    expect(r.unwrap()).toBe("1");
  });
});

describe("match", () => {
  it("calls the handler of the current variant", () => {
    const handlers = { ok: (n: number) => `ok:${n}`, err: (e: ParseError) => e.name.length };
    const a = parse("2").match(handlers);
    const b = parse("x").match(handlers);
    expect(a).toBe("ok:2");
    expect(b).toBe("ParseError".length);
    expectTypeOf(a).toEqualTypeOf<string | number>();
  });
});

describe("unwrapOr / unwrap / take", () => {
  it("unwrapOr returns the value or the fallback", () => {
    expect(parse("9").unwrapOr(0)).toBe(9);
    const fallback = parse("x").unwrapOr(null);
    expect(fallback).toBeNull();
    expectTypeOf(fallback).toEqualTypeOf<number | null>();
  });

  it("unwrap returns the value of an Ok", () => {
    expect(parse("9").unwrap()).toBe(9);
  });

  it("unwrap throws the error itself when it is an Error", () => {
    const r = parse("x");
    const error = r.isErr() ? r.error : undefined;
    expect(() => r.unwrap()).toThrow(error);
    try {
      r.unwrap();
    } catch (thrown) {
      expect(thrown).toBe(error);
    }
  });

  it("unwrap throws a BaseError wrapping a non-Error value", () => {
    const r = Result.err({ code: 42 });
    let thrown: unknown;
    try {
      r.unwrap();
    } catch (caught) {
      thrown = caught;
    }
    expect(thrown).toBeInstanceOf(BaseError);
    expect((thrown as BaseError).cause).toEqual({ code: 42 });
  });

  it("take returns the value or the error for early-return style", () => {
    const describe = (input: string): string => {
      const v = parse(input).take();
      if (v instanceof BaseError) return `error: ${v.message}`;
      expectTypeOf(v).toEqualTypeOf<number>();
      return `value: ${v + 1}`;
    };
    expect(describe("1")).toBe("value: 2");
    expect(describe("x")).toBe("error: not a number: x");
  });
});

describe("Result.try", () => {
  it("wraps a returned value in Ok", () => {
    const r = Result.try(() => JSON.parse('{"a":1}') as { a: number });
    expect(r.unwrap()).toEqual({ a: 1 });
    expectTypeOf(r).toEqualTypeOf<Result<{ a: number }, UnexpectedError>>();
  });

  it("maps a throw to UnexpectedError with the thrown value as cause by default", () => {
    const r = Result.try(() => JSON.parse("{"));
    expect(r.isErr()).toBe(true);
    const error = r.take();
    expect(error).toBeInstanceOf(UnexpectedError);
    expect((error as UnexpectedError).cause).toBeInstanceOf(SyntaxError);
  });

  it("wraps non-Error throws too", () => {
    const r = Result.try(() => {
      throw "plain string";
    });
    expect(r.isErr() && r.error.cause).toBe("plain string");
  });

  it("uses mapError when given", () => {
    const r = Result.try(
      (): number => {
        throw new Error("boom");
      },
      (thrown) => new ParseError("mapped", { cause: thrown }),
    );
    expectTypeOf(r).toEqualTypeOf<Result<number, ParseError>>();
    expect(r.isErr() && r.error.message).toBe("mapped");
  });
});

describe("Result.tryAsync", () => {
  it("resolves to Ok with the awaited value", async () => {
    const r = Result.tryAsync(async () => 5);
    expectTypeOf(r).toEqualTypeOf<AsyncResult<number, UnexpectedError>>();
    expect(r).toBeInstanceOf(AsyncResult);
    expect((await r).unwrap()).toBe(5);
  });

  it("accepts a synchronous function", async () => {
    expect(await Result.tryAsync(() => "sync").unwrap()).toBe("sync");
  });

  it("turns a rejection into UnexpectedError by default", async () => {
    const cause = new Error("network down");
    const r = await Result.tryAsync(async () => {
      throw cause;
    });
    expect(r.isErr()).toBe(true);
    expect(r.isErr() && r.error).toBeInstanceOf(UnexpectedError);
    expect(r.isErr() && r.error.cause).toBe(cause);
  });

  it("turns a synchronous throw into an Err too", async () => {
    const r = await Result.tryAsync((): Promise<number> => {
      throw new Error("sync throw");
    });
    expect(r.isErr() && r.error.message).toBe("Unexpected error: sync throw");
  });

  it("uses mapError when given", async () => {
    const r = Result.tryAsync(
      () => Promise.reject(new Error("x")),
      (reason) => ({ kind: "mapped" as const, reason }),
    );
    const error = await r.take();
    expect(error).toEqual({ kind: "mapped", reason: new Error("x") });
  });
});

describe("Result.all", () => {
  it("collects the values of all-Ok tuples, keeping their types", () => {
    const r = Result.all([parse("1"), Result.ok("two"), Result.ok(true)]);
    expectTypeOf(r).toEqualTypeOf<Result<[number, string, boolean], ParseError>>();
    expect(r.unwrap()).toEqual([1, "two", true]);
  });

  it("returns the first Err", () => {
    const first = new ParseError("first");
    const r = Result.all([Result.ok(1), Result.err(first), Result.err("second")]);
    expectTypeOf(r).toEqualTypeOf<Result<[number, never, never], ParseError | string>>();
    expect(r.take()).toBe(first);
  });

  it("works on arrays and on empty input", () => {
    const inputs: Result<number, ParseError>[] = ["1", "2", "3"].map(parse);
    const r = Result.all(inputs);
    expectTypeOf(r).toEqualTypeOf<Result<number[], ParseError>>();
    expect(r.unwrap()).toEqual([1, 2, 3]);
    expect(Result.all([]).unwrap()).toEqual([]);
    expect(Result.all(["1", "x", "y"].map(parse)).isErr()).toBe(true);
  });
});
