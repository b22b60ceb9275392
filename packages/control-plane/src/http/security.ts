/**
 * Security middleware of the HTTP app (auth spec §5.1): response headers (CSP, framing, referrer,
 * HSTS on https), CORS from `web.origins`, and the same-origin check of portal-only endpoints
 * (auth spec §7 item 12).
 */
import type { Context, MiddlewareHandler } from "hono";
import { FlowError } from "../flows/errors.js";
import { ANY_ORIGIN, normalizeOrigins } from "../flows/redirects.js";
import type { HttpEnv } from "./env.js";
import { errorResponse } from "./errors.js";

/** The Content-Security-Policy of every response: same-origin assets only, no framing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Sets the security headers on every response; HSTS when the public origin is https. */
export function securityHeaders(publicOrigin: string): MiddlewareHandler<HttpEnv> {
  const https = publicOrigin.startsWith("https:");
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    headers.set("X-Content-Type-Options", "nosniff");
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` on the portal's
    // own form posts, which the origin check below would have to trust blindly.
    headers.set("Referrer-Policy", "same-origin");
    headers.set("X-Frame-Options", "DENY");
    if (https) headers.set("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
    // Answers carry credentials (sentinel creds, flow ids): never cache them, except static assets.
    if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  };
}

const CORS_METHODS = "GET, POST, OPTIONS";
const CORS_HEADERS = "Content-Type";

/**
 * CORS for API routes: an origin listed in `web.origins` is echoed with credentials allowed; with `*`
 * any origin is allowed without credentials; other origins get no CORS headers (and an empty
 * preflight answer).
 */
export function corsFromWebOrigins(webOrigins: readonly string[]): MiddlewareHandler<HttpEnv> {
  const listed = normalizeOrigins(webOrigins);
  const any = webOrigins.includes(ANY_ORIGIN);
  return async (c, next) => {
    const origin = c.req.header("Origin");
    const allowListed = origin !== undefined && listed.has(origin);
    const allowed = allowListed || (origin !== undefined && any);
    const apply = (headers: Headers) => {
      if (!allowed) return;
      headers.set("Access-Control-Allow-Origin", allowListed ? origin : "*");
      if (allowListed) headers.set("Access-Control-Allow-Credentials", "true");
      headers.append("Vary", "Origin");
    };
    if (c.req.method === "OPTIONS" && c.req.header("Access-Control-Request-Method") !== undefined) {
      const headers = new Headers();
      apply(headers);
      if (allowed) {
        headers.set("Access-Control-Allow-Methods", CORS_METHODS);
        headers.set("Access-Control-Allow-Headers", CORS_HEADERS);
        headers.set("Access-Control-Max-Age", "600");
      }
      return c.body(null, 204, Object.fromEntries(headers));
    }
    await next();
    apply(c.res.headers);
  };
}

/**
 * Portal-only endpoints (sign-in, consent, password setup) refuse browser requests from any origin
 * other than the portal's own (`invalid_origin`): the public origin, or the origin the request was
 * addressed to (the same server reached under another host name). Requests without `Origin`
 * (non-browser clients) pass; they cannot be forged cross-site.
 */
export function requirePortalOrigin(
  publicOrigin: string,
  refuse: (c: Context<HttpEnv>, error: FlowError) => Response = errorResponse,
): MiddlewareHandler<HttpEnv> {
  const portal = new URL(publicOrigin).origin;
  return async (c, next) => {
    const origin = c.req.header("Origin");
    // Privacy settings can make a browser send `Origin: null` on its own same-origin posts; the
    // browser-set `Sec-Fetch-Site` header tells those apart from opaque cross-site ones.
    const sameSiteNull = origin === "null" && c.req.header("Sec-Fetch-Site") === "same-origin";
    if (origin !== undefined && !sameSiteNull && origin !== portal && origin !== new URL(c.req.url).origin) {
      return refuse(c, new FlowError("invalid_origin"));
    }
    await next();
  };
}
