import { describe, expect, expectTypeOf, it } from "vitest";
import { AsyncResult, type MaybeAsync } from "./async-result.js";
import { BaseError, UnexpectedError } from "./errors.js";
import { Err, Ok, Result } from "./result.js";

class FetchError extends BaseError {}
class ValidationError extends BaseError {}

const fetchNumber = (n: number): AsyncResult<number, FetchError> =>
  n >= 0 ? AsyncResult.ok(n) : AsyncResult.err(new FetchError("negative"));

const validate = (n: number): Result<number, ValidationError> =>
  n < 100 ? Result.ok(n) : Result.err(new ValidationError("too large"));

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

describe("constructors", () => {
  it("ok / err resolve to the matching Result", async () => {
    const good = await AsyncResult.ok(1);
    const bad = await AsyncResult.err("e");
    expect(good).toBeInstanceOf(Ok);
    expect(good.isOk() && good.value).toBe(1);
    expect(bad).toBeInstanceOf(Err);
    expect(bad.isErr() && bad.error).toBe("e");
    expectTypeOf(AsyncResult.ok(1)).toEqualTypeOf<AsyncResult<number, never>>();
    expectTypeOf(AsyncResult.err("e")).toEqualTypeOf<AsyncResult<never, string>>();
  });

  it("ok() with no argument is AsyncResult<void>", async () => {
    const done = AsyncResult.ok();
    expectTypeOf(done).toEqualTypeOf<AsyncResult<void, never>>();
    expect((await done).ok).toBe(true);
  });

  it("from accepts a Result, a promise of one, or an AsyncResult", async () => {
    expect(await AsyncResult.from(Result.ok(1)).unwrap()).toBe(1);
    const fromPromise = AsyncResult.from(Promise.resolve(validate(500)));
    expectTypeOf(fromPromise).toEqualTypeOf<AsyncResult<number, ValidationError>>();
    expect(await fromPromise.take()).toBeInstanceOf(ValidationError);
    const inner = fetchNumber(3);
    expect(await AsyncResult.from(inner).unwrap()).toBe(3);
  });

  it("from keeps a rejection as a rejection", async () => {
    const r = AsyncResult.from<number, string>(Promise.reject(new Error("defect")));
    await expect(r.unwrap()).rejects.toThrow("defect");
  });

  it("fromPromise turns resolution into Ok", async () => {
    const r = AsyncResult.fromPromise(Promise.resolve("data"));
    expectTypeOf(r).toEqualTypeOf<AsyncResult<string, UnexpectedError>>();
    expect(await r.unwrap()).toBe("data");
  });

  it("fromPromise turns rejection into UnexpectedError by default", async () => {
    const cause = new Error("refused");
    const error = await AsyncResult.fromPromise(Promise.reject(cause)).take();
    expect(error).toBeInstanceOf(UnexpectedError);
    expect((error as UnexpectedError).cause).toBe(cause);
  });

  it("fromPromise uses mapError when given", async () => {
    const r = AsyncResult.fromPromise(Promise.reject("offline"), (reason) => new FetchError(String(reason)));
    expectTypeOf(r).toEqualTypeOf<AsyncResult<never, FetchError>>();
    const result = await r;
    expect(result.isErr() && result.error.message).toBe("offline");
  });

  it("fromPromise accepts any thenable", async () => {
    const thenable: PromiseLike<number> = {
      // biome-ignore lint/suspicious/noThenProperty: a hand-written thenable is the point of this test.
      then: (resolve) => Promise.resolve(resolve?.(7)) as never,
    };
    expect(await AsyncResult.fromPromise(thenable).unwrap()).toBe(7);
  });
});

describe("awaiting", () => {
  it("is PromiseLike<Result> and works with then / Promise.all", async () => {
    const r = fetchNumber(1);
    expectTypeOf(r).toMatchTypeOf<PromiseLike<Result<number, FetchError>>>();
    const awaited = await r;
    expectTypeOf(awaited).toEqualTypeOf<Result<number, FetchError>>();
    const viaThen = await r.then((result) => result.ok);
    expect(viaThen).toBe(true);
    const [a, b] = await Promise.all([fetchNumber(1), fetchNumber(-1)]);
    expect(a.ok).toBe(true);
    expect(b.ok).toBe(false);
  });

  it("forwards rejections to onrejected", async () => {
    const r = AsyncResult.from<number, never>(Promise.reject(new Error("x")));
    const handled = await r.then(
      () => "fulfilled",
      (reason) => `rejected: ${(reason as Error).message}`,
    );
    expect(handled).toBe("rejected: x");
  });
});

describe("map / mapErr", () => {
  it("map transforms the value with sync or async functions", async () => {
    const r = fetchNumber(2)
      .map((n) => n + 1)
      .map(async (n) => {
        await tick();
        return `#${n}`;
      });
    expectTypeOf(r).toEqualTypeOf<AsyncResult<string, FetchError>>();
    expect(await r.unwrap()).toBe("#3");
  });

  it("map skips an Err", async () => {
    let called = false;
    const r = fetchNumber(-1).map((n) => {
      called = true;
      return n;
    });
    expect(await r.take()).toBeInstanceOf(FetchError);
    expect(called).toBe(false);
  });

  it("mapErr transforms the error with sync or async functions", async () => {
    const r = fetchNumber(-1)
      .mapErr((e) => e.message)
      .mapErr(async (m) => m.length);
    expectTypeOf(r).toEqualTypeOf<AsyncResult<number, number>>();
    expect(await r.take()).toBe("negative".length);
  });

  it("mapErr skips an Ok", async () => {
    let called = false;
    const r = fetchNumber(4).mapErr(() => {
      called = true;
      return 0;
    });
    expect(await r.unwrap()).toBe(4);
    expect(called).toBe(false);
  });

  it("a throwing callback rejects the awaited promise", async () => {
    const r = fetchNumber(1).map((): number => {
      throw new Error("bug");
    });
    await expect(Promise.resolve(r)).rejects.toThrow("bug");
  });
});

describe("andThen", () => {
  it("accepts a function returning a Result", async () => {
    const r = fetchNumber(5).andThen(validate);
    expectTypeOf(r).toEqualTypeOf<AsyncResult<number, FetchError | ValidationError>>();
    expect(await r.unwrap()).toBe(5);
    expect(await fetchNumber(500).andThen(validate).take()).toBeInstanceOf(ValidationError);
  });

  it("accepts a function returning a Promise<Result>", async () => {
    const r = fetchNumber(5).andThen(async (n): Promise<Result<string, ValidationError>> => {
      await tick();
      return Result.ok(String(n));
    });
    expectTypeOf(r).toEqualTypeOf<AsyncResult<string, FetchError | ValidationError>>();
    expect(await r.unwrap()).toBe("5");
  });

  it("accepts a function returning an AsyncResult", async () => {
    const r = fetchNumber(5).andThen((n) => AsyncResult.fromPromise(Promise.resolve(n * 10)));
    expectTypeOf(r).toEqualTypeOf<AsyncResult<number, FetchError | UnexpectedError>>();
    expect(await r.unwrap()).toBe(50);
  });

  it("infers from an un-annotated async callback returning either variant", async () => {
    const r = fetchNumber(5).andThen(async (n) => (n > 1 ? Result.ok(n > 2) : Result.err("small" as const)));
    expectTypeOf(r).toEqualTypeOf<AsyncResult<boolean, FetchError | "small">>();
    expect(await r.unwrap()).toBe(true);
  });

  it("short-circuits on Err without calling fn", async () => {
    let called = false;
    const r = fetchNumber(-1).andThen((n) => {
      called = true;
      return validate(n);
    });
    expect(await r.take()).toBeInstanceOf(FetchError);
    expect(called).toBe(false);
  });

  it("propagates an Err produced by an AsyncResult step", async () => {
    const r = fetchNumber(1).andThen(() => fetchNumber(-1));
    expect(await r.take()).toBeInstanceOf(FetchError);
  });
});

describe("match / unwrapOr / unwrap / take", () => {
  it("match calls the handler of the variant, sync or async", async () => {
    const handlers = {
      ok: async (n: number) => `ok ${n}`,
      err: (e: FetchError) => e.name,
    };
    const a = fetchNumber(1).match(handlers);
    expectTypeOf(a).toEqualTypeOf<Promise<string>>();
    expect(await a).toBe("ok 1");
    expect(await fetchNumber(-1).match(handlers)).toBe("FetchError");
  });

  it("unwrapOr resolves with the value or the fallback", async () => {
    expect(await fetchNumber(1).unwrapOr("none")).toBe(1);
    const fallback = fetchNumber(-1).unwrapOr("none");
    expectTypeOf(fallback).toEqualTypeOf<Promise<number | string>>();
    expect(await fallback).toBe("none");
  });

  it("unwrap resolves with the value or rejects with the error", async () => {
    expect(await fetchNumber(1).unwrap()).toBe(1);
    await expect(fetchNumber(-1).unwrap()).rejects.toBeInstanceOf(FetchError);
    await expect(AsyncResult.err(3).unwrap()).rejects.toBeInstanceOf(BaseError);
  });

  it("take resolves with the value or the error for early-return style", async () => {
    const run = async (n: number): Promise<string> => {
      const v = await fetchNumber(n).take();
      if (v instanceof BaseError) return `error: ${v.message}`;
      expectTypeOf(v).toEqualTypeOf<number>();
      return `value: ${v}`;
    };
    expect(await run(2)).toBe("value: 2");
    expect(await run(-2)).toBe("error: negative");
  });
});

describe("MaybeAsync", () => {
  it("accepts both a Result and a promise of one", async () => {
    const steps: MaybeAsync<number, string>[] = [Result.ok(1), Promise.resolve(Result.err("e"))];
    const results = await Promise.all(steps.map((step) => AsyncResult.from(step)));
    expect(results.map((r) => r.ok)).toEqual([true, false]);
  });
});
