import { describe, expect, it } from "vitest";
import { BaseError, UnexpectedError } from "./errors.js";

class NotFoundError extends BaseError {}

class StaticNamedError extends BaseError {
  static override name = "custom.static";
}

class FieldNamedError extends BaseError {
  override readonly name = "custom.field";
}

class GrandchildError extends NotFoundError {}

describe("BaseError", () => {
  it("is an Error whose name is the constructed class name", () => {
    const error = new NotFoundError("missing");
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(BaseError);
    expect(error.name).toBe("NotFoundError");
    expect(error.message).toBe("missing");
    expect(new BaseError("x").name).toBe("BaseError");
    expect(new GrandchildError("x").name).toBe("GrandchildError");
  });

  it("uses the class name in the stack trace header", () => {
    expect(new NotFoundError("missing").stack?.split("\n")[0]).toBe("NotFoundError: missing");
  });

  it("lets subclasses override the name with a static or a field", () => {
    expect(new StaticNamedError("a").name).toBe("custom.static");
    expect(new FieldNamedError("b").name).toBe("custom.field");
    expect(new FieldNamedError("b").toSerializable().type).toBe("custom.field");
  });

  it("keeps cause and context", () => {
    const cause = new Error("root");
    const error = new BaseError("wrapped", { cause, context: { id: 7 } });
    expect(error.cause).toBe(cause);
    expect(error.context).toEqual({ id: 7 });
  });

  it("has no own cause or context when none are given", () => {
    const error = new BaseError("plain");
    expect(error.context).toBeUndefined();
    expect(Object.hasOwn(error, "context")).toBe(false);
    expect(Object.hasOwn(error, "cause")).toBe(false);
  });

  it("serializes to { type, message, context? }", () => {
    expect(new NotFoundError("missing").toSerializable()).toEqual({
      type: "NotFoundError",
      message: "missing",
    });
    expect(Object.keys(new NotFoundError("missing").toSerializable())).toEqual(["type", "message"]);
    const withContext = new NotFoundError("missing", { context: { key: "a" }, cause: new Error("no") });
    expect(withContext.toSerializable()).toEqual({
      type: "NotFoundError",
      message: "missing",
      context: { key: "a" },
    });
    expect(withContext.toJSON()).toEqual(withContext.toSerializable());
    expect(JSON.parse(JSON.stringify({ error: withContext }))).toEqual({
      error: { type: "NotFoundError", message: "missing", context: { key: "a" } },
    });
  });
});

describe("UnexpectedError", () => {
  it("is a BaseError with a default message", () => {
    const error = new UnexpectedError();
    expect(error).toBeInstanceOf(BaseError);
    expect(error.name).toBe("UnexpectedError");
    expect(error.message).toBe("Unexpected error");
  });

  it("from() wraps an Error and reuses its message", () => {
    const cause = new TypeError("bad type");
    const error = UnexpectedError.from(cause);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe("Unexpected error: bad type");
  });

  it("from() describes non-Error thrown values", () => {
    expect(UnexpectedError.from("boom").message).toBe("Unexpected error: boom");
    expect(UnexpectedError.from({ code: 1 }).message).toBe('Unexpected error: {"code":1}');
    expect(UnexpectedError.from(undefined).message).toBe("Unexpected error: undefined");
    expect(UnexpectedError.from(null).cause).toBeNull();
    expect(UnexpectedError.from(10n).message).toBe("Unexpected error: 10");
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(UnexpectedError.from(circular).message).toBe("Unexpected error: [object Object]");
  });

  it("from() accepts an explicit message", () => {
    const error = UnexpectedError.from("boom", "while loading");
    expect(error.message).toBe("while loading");
    expect(error.cause).toBe("boom");
  });

  it("from() does not double-wrap an UnexpectedError", () => {
    const original = new UnexpectedError("once");
    expect(UnexpectedError.from(original)).toBe(original);
    expect(UnexpectedError.from(original, "again").cause).toBe(original);
  });
});
