/**
 * Where browser flows may send users (auth spec §5.1, §7 items 8 and 10): login `redirectTo` targets,
 * the identity anchor they imply (§1.4), the redirect location after approval, and logout `returnTo`.
 */
import { Result } from "@trellis/result";
import type { IdentityAnchor } from "../store/identity-grants-repository.js";
import { FlowError } from "./errors.js";

/** A validated login redirect target. */
export type ValidatedRedirect =
  /** A path on the control plane (the CLI's portal page): anchors the grant to the session key. */
  | { kind: "relative"; redirectTo: string }
  /** A web app URL (normalized, WHATWG form): anchors the grant to its origin. */
  | { kind: "absolute"; redirectTo: string; origin: string };

/** `web.origins` entry meaning "any origin" (CORS without credentials, any login redirect). */
export const ANY_ORIGIN = "*";

/** `true` for `localhost`, `127.0.0.0/8` and `[::1]`. */
export function isLoopbackHostname(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** The configured origins in `URL.origin` form (invalid entries and `*` dropped). */
export function normalizeOrigins(origins: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const origin of origins) {
    if (origin === ANY_ORIGIN) continue;
    try {
      out.add(new URL(origin).origin);
    } catch {
      // A malformed configured origin allows nothing.
    }
  }
  return out;
}

/** The origin of an absolute http(s) URL without embedded credentials, or `undefined`. */
function httpUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.username !== "" || url.password !== "") return undefined;
  return url;
}

/**
 * Checks a login `redirectTo`: a relative path `/…` (not `//…` or `/\…`, which browsers treat as
 * another host), or an absolute http(s) URL on a loopback host or an origin listed in `web.origins`
 * (`*` allows any origin). Absolute URLs are returned normalized (the signature covers that form).
 */
export function validateRedirectTo(
  redirectTo: string,
  webOrigins: readonly string[],
): Result<ValidatedRedirect, FlowError> {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f\u007f\s]/.test(redirectTo)) return Result.err(new FlowError("invalid_redirect_to"));
  if (redirectTo.startsWith("/")) {
    if (redirectTo.startsWith("//") || redirectTo.startsWith("/\\")) {
      return Result.err(new FlowError("invalid_redirect_to", "redirectTo must not be protocol-relative"));
    }
    return Result.ok({ kind: "relative", redirectTo });
  }
  const url = httpUrl(redirectTo);
  if (url === undefined) {
    return Result.err(
      new FlowError("invalid_redirect_to", "redirectTo must be a relative path or http(s) URL"),
    );
  }
  const allowed =
    isLoopbackHostname(url.hostname) ||
    webOrigins.includes(ANY_ORIGIN) ||
    normalizeOrigins(webOrigins).has(url.origin);
  if (!allowed) {
    return Result.err(
      new FlowError("invalid_redirect_to", `Origin '${url.origin}' is not an allowed web origin`),
    );
  }
  return Result.ok({ kind: "absolute", redirectTo: url.toString(), origin: url.origin });
}

/** The identity anchor of a flow (§1.4): `web` for absolute redirects, `cli` for relative ones. */
export function identityAnchorFor(
  redirect: ValidatedRedirect,
  contractId: string,
  sessionKey: string,
): IdentityAnchor {
  return redirect.kind === "absolute"
    ? { kind: "web", contractId, origin: redirect.origin }
    : { kind: "cli", contractId, sessionPublicKey: sessionKey };
}

/** Re-reads a stored (already validated) redirect without re-checking the allow list. */
export function storedRedirect(redirectTo: string): ValidatedRedirect {
  if (redirectTo.startsWith("/")) return { kind: "relative", redirectTo };
  return { kind: "absolute", redirectTo, origin: new URL(redirectTo).origin };
}

/** `redirectTo` with `params` added to its query (kept relative when it is relative). */
export function withQuery(redirectTo: string, params: Record<string, string>): string {
  const relative = redirectTo.startsWith("/");
  const url = new URL(redirectTo, "http://relative.invalid");
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return relative ? `${url.pathname}${url.search}${url.hash}` : url.toString();
}

/**
 * Checks a logout `returnTo`: an absolute http(s) URL on the session's app origin, where that origin
 * is a loopback origin or explicitly listed in `web.origins` — a `*` entry never authorizes a return
 * target. Sessions without an app origin (CLI) accept none.
 */
export function validateLogoutReturnTo(
  returnTo: string,
  appOrigin: string | undefined,
  webOrigins: readonly string[],
): Result<string, FlowError> {
  const url = httpUrl(returnTo);
  if (url === undefined || appOrigin === undefined || url.origin !== appOrigin) {
    return Result.err(new FlowError("invalid_return_to"));
  }
  if (!isLoopbackHostname(url.hostname) && !normalizeOrigins(webOrigins).has(url.origin)) {
    return Result.err(new FlowError("invalid_return_to"));
  }
  return Result.ok(url.toString());
}
