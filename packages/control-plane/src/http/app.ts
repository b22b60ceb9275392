/**
 * The control plane's HTTP app (auth spec §5.1): security headers on every response, CORS from
 * `web.origins` and a per-address rate limit on `/auth/*` (and the portal's form posts), the service
 * endpoints (`/version`, `/healthz`, `/metrics`), the login-flow and client-session JSON API, and the
 * built-in portal.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ControlPlaneContext } from "../context.js";
import { checkHealth } from "../flows/health.js";
import { portalRoutes } from "../portal/routes.js";
import { authRoutes } from "./auth-routes.js";
import { bootstrapRoutes } from "./bootstrap.js";
import type { HttpEnv } from "./env.js";
import { rateLimit } from "./rate-limit.js";
import { corsFromWebOrigins, securityHeaders } from "./security.js";

/** Options of {@link createHttpApp}. */
export type HttpAppOptions = {
  /** Reported by `GET /version`. */
  version?: string;
  /** Prometheus text exposition for `GET /metrics` (404 without it). */
  metrics?: () => Promise<string>;
};

/** Largest accepted request body (contract manifests included). */
export const MAX_REQUEST_BODY_BYTES = 2 * 1024 * 1024;

/** Builds the HTTP app over a control-plane context. Further route groups can be added to it. */
export function createHttpApp(ctx: ControlPlaneContext, options: HttpAppOptions = {}): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  app.use("*", securityHeaders(ctx.publicOrigin));

  const cors = corsFromWebOrigins(ctx.config.web.origins);
  app.use("/auth/*", cors);
  app.use("/bootstrap/*", cors);

  // One budget per address for everything that checks credentials or starts flows.
  const limiter = rateLimit({ limit: ctx.config.httpRateLimit, now: () => ctx.now().getTime() });
  app.use("/auth/*", limiter);
  app.on("POST", "/_trellis/portal/*", limiter);

  const limitBody = bodyLimit({
    maxSize: MAX_REQUEST_BODY_BYTES,
    onError: (c) => c.json({ reason: "invalid_request", message: "The request body is too large" }, 413),
  });
  app.use("/auth/*", limitBody);
  app.use("/bootstrap/*", limitBody);
  app.use("/_trellis/portal/*", limitBody);

  app.get("/version", (c) => c.json({ version: options.version ?? "unknown" }));
  app.get("/healthz", (c) => {
    const report = checkHealth(ctx);
    return c.json(report, report.status === "ok" ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    if (options.metrics === undefined)
      return c.json({ reason: "not_found", message: "Metrics are disabled" }, 404);
    return c.body(await options.metrics(), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });

  app.route("/", authRoutes(ctx));
  app.route("/", bootstrapRoutes(ctx));
  app.route("/", portalRoutes(ctx));

  app.notFound((c) => c.json({ reason: "not_found", message: "Not found" }, 404));
  app.onError((error, c) => {
    ctx.logger.error({ err: error, method: c.req.method, path: c.req.path }, "HTTP request failed");
    return c.json({ reason: "internal_error", message: "Internal error" }, 500);
  });
  return app;
}
