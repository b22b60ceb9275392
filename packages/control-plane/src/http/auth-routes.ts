/**
 * JSON routes of login flows and client sessions (auth spec §5.1). Each handler parses its body
 * with zod, calls one domain function from `flows/`, and maps the result: `Ok` → 200 JSON,
 * `Err(FlowError)` → `errors.ts`.
 */
import type { Result } from "@trellis/result";
import { type Context, Hono } from "hono";
import type { ControlPlaneContext } from "../context.js";
import { getAccountFlowState, setAccountFlowPassword } from "../flows/account.js";
import { bootstrapClient, logoutSession } from "../flows/client-session.js";
import type { FlowError } from "../flows/errors.js";
import { answerApproval, bindFlow, getFlowState, loginLocal, startAuthRequest } from "../flows/login.js";
import { parseJsonBody } from "./body.js";
import type { HttpEnv } from "./env.js";
import { errorResponse } from "./errors.js";
import {
  AccountPasswordBodySchema,
  ApprovalBodySchema,
  AuthRequestBodySchema,
  BindBodySchema,
  BootstrapClientBodySchema,
  LocalLoginBodySchema,
  LogoutBodySchema,
} from "./schemas.js";
import { requirePortalOrigin } from "./security.js";

/** Answers `Ok` as 200 JSON and `Err` through the error mapping. */
function respond<T>(c: Context<HttpEnv>, result: Result<T, FlowError>): Response {
  return result.ok ? c.json(result.value, 200) : errorResponse(c, result.error);
}

/** The routes of `/auth/*` and `POST /bootstrap/client`. */
export function authRoutes(ctx: ControlPlaneContext): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  const portalOnly = requirePortalOrigin(ctx.publicOrigin);

  app.post("/auth/requests", async (c) => {
    const body = await parseJsonBody(c, AuthRequestBodySchema);
    if (!body.ok) return errorResponse(c, body.error);
    return respond(c, await startAuthRequest(ctx, body.value));
  });

  app.get("/auth/flow/:flowId", async (c) => respond(c, await getFlowState(ctx, c.req.param("flowId"))));

  app.post("/auth/flow/:flowId/approval", portalOnly, async (c) => {
    const body = await parseJsonBody(c, ApprovalBodySchema);
    if (!body.ok) return errorResponse(c, body.error);
    return respond(c, await answerApproval(ctx, c.req.param("flowId"), body.value));
  });

  app.post("/auth/flow/:flowId/bind", async (c) => {
    const body = await parseJsonBody(c, BindBodySchema);
    if (!body.ok) return errorResponse(c, body.error);
    return respond(c, await bindFlow(ctx, c.req.param("flowId"), body.value));
  });

  app.post("/auth/login/local", portalOnly, async (c) => {
    const body = await parseJsonBody(c, LocalLoginBodySchema);
    if (!body.ok) return errorResponse(c, body.error);
    return respond(c, await loginLocal(ctx, body.value));
  });

  app.post("/auth/sessions/logout", async (c) => {
    const body = await parseJsonBody(c, LogoutBodySchema, "invalid_logout_request");
    if (!body.ok) return errorResponse(c, body.error);
    const result = await logoutSession(ctx, body.value);
    if (result.ok && body.value.responseMode === "redirect" && result.value.redirectTo !== undefined) {
      return c.redirect(result.value.redirectTo, 303);
    }
    return respond(c, result);
  });

  app.get("/auth/account-flow/:flowId", (c) => respond(c, getAccountFlowState(ctx, c.req.param("flowId"))));

  app.post("/auth/account-flow/:flowId/local-password", portalOnly, async (c) => {
    const body = await parseJsonBody(c, AccountPasswordBodySchema);
    if (!body.ok) return errorResponse(c, body.error);
    return respond(c, await setAccountFlowPassword(ctx, c.req.param("flowId"), body.value.password));
  });

  app.post("/bootstrap/client", async (c) => {
    const body = await parseJsonBody(c, BootstrapClientBodySchema);
    if (!body.ok) return errorResponse(c, body.error);
    return respond(c, bootstrapClient(ctx, body.value));
  });

  return app;
}
