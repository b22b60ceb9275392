import { describe, expect, it } from "vitest";
import {
  identityAnchorFor,
  isLoopbackHostname,
  validateLogoutReturnTo,
  validateRedirectTo,
  withQuery,
} from "./redirects.js";

const origins = ["https://app.example.com"];

describe("validateRedirectTo", () => {
  it("accepts relative paths, loopback and configured origins (normalized)", () => {
    expect(validateRedirectTo("/cli/done", origins).unwrap()).toEqual({
      kind: "relative",
      redirectTo: "/cli/done",
    });
    expect(validateRedirectTo("https://app.example.com", origins).unwrap()).toEqual({
      kind: "absolute",
      redirectTo: "https://app.example.com/",
      origin: "https://app.example.com",
    });
    expect(validateRedirectTo("http://127.0.0.1:9000/cb", []).ok).toBe(true);
    expect(validateRedirectTo("http://[::1]:9000/cb", []).ok).toBe(true);
    expect(validateRedirectTo("https://any.example.org/cb", ["*"]).ok).toBe(true);
  });

  it.each([
    "//evil.example.com",
    "/\\evil.example.com",
    "javascript:alert(1)",
    "data:text/html,hi",
    "https://evil.example.com/",
    "https://user:pw@app.example.com/",
    "relative/path",
    "/with space",
    "/new\nline",
  ])("refuses %s", (redirectTo) => {
    expect(validateRedirectTo(redirectTo, origins).take()).toMatchObject({ reason: "invalid_redirect_to" });
  });
});

describe("anchors and locations", () => {
  it("anchors web flows to the origin and CLI flows to the session key", () => {
    const web = validateRedirectTo("https://app.example.com/cb", origins).unwrap();
    expect(identityAnchorFor(web, "app@v1", "key")).toEqual({
      kind: "web",
      contractId: "app@v1",
      origin: "https://app.example.com",
    });
    const cli = validateRedirectTo("/portal", origins).unwrap();
    expect(identityAnchorFor(cli, "cli@v1", "key")).toEqual({
      kind: "cli",
      contractId: "cli@v1",
      sessionPublicKey: "key",
    });
  });

  it("adds query parameters to relative and absolute targets", () => {
    expect(withQuery("/portal?x=1#top", { flowId: "F" })).toBe("/portal?x=1&flowId=F#top");
    expect(withQuery("https://app.example.com/cb", { flowId: "F" })).toBe(
      "https://app.example.com/cb?flowId=F",
    );
  });

  it("recognizes loopback hosts", () => {
    expect(isLoopbackHostname("localhost")).toBe(true);
    expect(isLoopbackHostname("127.1.2.3")).toBe(true);
    expect(isLoopbackHostname("127.example.com")).toBe(false);
  });
});

describe("validateLogoutReturnTo", () => {
  it("accepts only the session's explicitly allowed app origin", () => {
    expect(
      validateLogoutReturnTo("https://app.example.com/bye", "https://app.example.com", origins).unwrap(),
    ).toBe("https://app.example.com/bye");
    expect(validateLogoutReturnTo("https://app.example.com/bye", undefined, origins).ok).toBe(false);
    expect(validateLogoutReturnTo("https://other.example.com/", "https://app.example.com", origins).ok).toBe(
      false,
    );
    expect(validateLogoutReturnTo("/relative", "https://app.example.com", origins).ok).toBe(false);
    expect(validateLogoutReturnTo("https://x.example.org/", "https://x.example.org", ["*"]).ok).toBe(false);
    expect(validateLogoutReturnTo("http://localhost:5173/", "http://localhost:5173", []).ok).toBe(true);
  });
});
