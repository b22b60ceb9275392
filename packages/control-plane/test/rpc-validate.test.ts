import { Result } from "@trellis/result";
import { AuthError } from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed, sha256, signRpcProof } from "@trellis/runtime/auth";
import { describe, expect, it } from "vitest";
import { ReplayCache } from "../src/rpc/replay-cache.js";
import { validateRequest } from "../src/rpc/validate.js";

const NOW = new Date("2030-01-01T00:00:00.500Z");
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);

function request(iat: number, requestId = `req-${iat}`) {
  const seed = generateSessionSeed();
  const subject = "rpc.v1.Orders.Get";
  const payload = "{}";
  return {
    sessionKey: sessionKeyFromSeed(seed),
    proof: signRpcProof({ seed, subject, payload, iat, requestId }),
    subject,
    payloadHash: sha256(payload).toString("base64url"),
    iat,
    requestId,
  };
}

/** Validation whose session lookup always says "unknown": only the checks before it decide. */
function validate(input: ReturnType<typeof request>) {
  return validateRequest(
    {
      resolve: () => Result.err(new AuthError("session_not_found", "unknown")),
      now: () => NOW,
      replay: new ReplayCache(),
    },
    input,
  );
}

function reasonOf(result: Result<unknown, AuthError>): string | undefined {
  return result.isErr() ? result.error.reason : undefined;
}

describe("validateRequest freshness", () => {
  it("accepts an iat exactly 30 s away and refuses 31 s, either way", () => {
    expect(reasonOf(validate(request(NOW_SECONDS - 30)))).toBe("session_not_found");
    expect(reasonOf(validate(request(NOW_SECONDS + 30)))).toBe("session_not_found");
    expect(reasonOf(validate(request(NOW_SECONDS - 31)))).toBe("iat_out_of_range");
    expect(reasonOf(validate(request(NOW_SECONDS + 31)))).toBe("iat_out_of_range");
  });

  it("refuses a payload hash that is not a 32-byte base64url digest", () => {
    const input = request(NOW_SECONDS);
    expect(reasonOf(validate({ ...input, payloadHash: Buffer.alloc(16).toString("base64url") }))).toBe(
      "invalid_signature",
    );
    expect(reasonOf(validate({ ...input, payloadHash: "a+b/" }))).toBe("invalid_signature");
  });

  it("refuses a proof over a different body", () => {
    const input = request(NOW_SECONDS);
    expect(reasonOf(validate({ ...input, payloadHash: sha256("{ }").toString("base64url") }))).toBe(
      "invalid_signature",
    );
  });
});
