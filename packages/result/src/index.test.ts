import { describe, expect, it } from "vitest";
import * as api from "./index.js";

describe("public entry", () => {
  it("exports exactly the documented runtime values", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "AsyncResult",
        "BaseError",
        "Err",
        "Ok",
        "Result",
        "UnexpectedError",
        "err",
        "isErr",
        "isOk",
        "ok",
      ].sort(),
    );
  });

  it("exposes the Result helpers", () => {
    expect(Object.keys(api.Result).sort()).toEqual(["all", "err", "isResult", "ok", "try", "tryAsync"]);
  });
});
