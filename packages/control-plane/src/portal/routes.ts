/**
 * Routes of the built-in portal: pages rendered from the flow state, and the form posts of those
 * pages (sign-in, consent, password setup), which call the same domain functions as the JSON API and
 * answer with a redirect back to the page (post/redirect/get) or the page with an error.
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import type { ControlPlaneContext } from "../context.js";
import { getAccountFlowState, setAccountFlowPassword } from "../flows/account.js";
import type { FlowError } from "../flows/errors.js";
import { answerApproval, getFlowState, loginLocal, type PortalFlowState } from "../flows/login.js";
import { PORTAL_ACCOUNT_PASSWORD_PATH, PORTAL_ASSETS_PATH, PORTAL_LOGIN_PATH } from "../flows/paths.js";
import { parseWith } from "../http/body.js";
import type { HttpEnv } from "../http/env.js";
import { httpStatusFor } from "../http/errors.js";
import { requirePortalOrigin } from "../http/security.js";
import { PORTAL_CSS, PORTAL_STYLESHEET } from "./assets.js";
import {
  consentPage,
  deniedPage,
  donePage,
  expiredPage,
  inactivePage,
  insufficientPage,
  PORTAL_FORMS,
  passwordDonePage,
  passwordSetupPage,
  problemPage,
  signInPage,
} from "./pages.js";

const SignInFormSchema = z.object({
  flowId: z.string().min(1),
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(4096),
});

const ApprovalFormSchema = z.object({
  flowId: z.string().min(1),
  decision: z.enum(["approve", "deny"]),
});

const PasswordFormSchema = z.object({
  flowId: z.string().min(1),
  password: z.string().min(1).max(4096),
  confirm: z.string(),
});

/** The page of a flow state. */
function flowPage(state: PortalFlowState, error?: string): string {
  switch (state.status) {
    case "choose_provider":
      return signInPage({ flowId: state.flowId, app: state.app, providers: state.providers, error });
    case "approval_required":
      return consentPage({ ...state, error });
    case "insufficient_capabilities":
      return insufficientPage(state);
    case "approval_denied":
      return deniedPage(state);
    case "user_inactive":
      return inactivePage();
    case "redirect":
      return donePage({ location: state.location, web: !state.location.startsWith("/") });
    case "expired":
      return expiredPage(state);
  }
}

function loginPageLocation(flowId: string): string {
  return `${PORTAL_LOGIN_PATH}?flowId=${encodeURIComponent(flowId)}`;
}

async function formBody(c: Context<HttpEnv>): Promise<Record<string, unknown>> {
  try {
    const body = await c.req.parseBody();
    return Object.fromEntries(Object.entries(body).filter(([, value]) => typeof value === "string"));
  } catch {
    return {};
  }
}

function failurePage(c: Context<HttpEnv>, error: FlowError): Response {
  return c.html(problemPage("Something went wrong", error.message), httpStatusFor(error.reason));
}

/** The portal's pages, form posts and stylesheet. */
export function portalRoutes(ctx: ControlPlaneContext): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  const portalOnly = requirePortalOrigin(ctx.publicOrigin, failurePage);

  app.get(`${PORTAL_ASSETS_PATH}/${PORTAL_STYLESHEET}`, (c) =>
    c.body(PORTAL_CSS, 200, {
      "Content-Type": "text/css; charset=utf-8",
      "Cache-Control": "public, max-age=3600",
    }),
  );

  app.get(PORTAL_LOGIN_PATH, async (c) => {
    const flowId = c.req.query("flowId");
    if (flowId === undefined || flowId === "") return c.html(expiredPage({}), 404);
    const state = await getFlowState(ctx, flowId);
    if (!state.ok) return failurePage(c, state.error);
    return c.html(flowPage(state.value));
  });

  app.post(PORTAL_FORMS.signIn, portalOnly, async (c) => {
    const raw = await formBody(c);
    const flowId = typeof raw.flowId === "string" ? raw.flowId : "";
    const form = parseWith(SignInFormSchema, raw);
    let error = "Enter your username and password.";
    if (form.ok) {
      const login = await loginLocal(ctx, form.value);
      if (login.ok) return c.redirect(loginPageLocation(flowId), 303);
      switch (login.error.reason) {
        case "already_authenticated":
          return c.redirect(loginPageLocation(flowId), 303);
        case "flow_expired":
          return c.html(expiredPage({}), 410);
        case "user_inactive":
          return c.html(inactivePage(), 403);
        case "account_locked":
          error = "This account is temporarily locked after too many failed sign-ins. Try again later.";
          break;
        case "invalid_credentials":
          error = "Invalid username or password.";
          break;
        default:
          return failurePage(c, login.error);
      }
    }
    const state = await getFlowState(ctx, flowId);
    if (!state.ok) return failurePage(c, state.error);
    if (state.value.status !== "choose_provider") return c.redirect(loginPageLocation(flowId), 303);
    return c.html(
      signInPage({
        flowId,
        app: state.value.app,
        providers: state.value.providers,
        error,
        ...(typeof raw.username === "string" && { username: raw.username }),
      }),
      form.ok ? 403 : 400,
    );
  });

  app.post(PORTAL_FORMS.approval, portalOnly, async (c) => {
    const form = parseWith(ApprovalFormSchema, await formBody(c));
    if (!form.ok) return failurePage(c, form.error);
    const answered = await answerApproval(ctx, form.value.flowId, {
      approved: form.value.decision === "approve",
    });
    if (!answered.ok) {
      if (answered.error.reason === "flow_expired") return c.html(expiredPage({}), 410);
      return failurePage(c, answered.error);
    }
    return c.redirect(loginPageLocation(form.value.flowId), 303);
  });

  app.get(PORTAL_ACCOUNT_PASSWORD_PATH, (c) => {
    const flowId = c.req.query("flowId") ?? "";
    const state = getAccountFlowState(ctx, flowId);
    if (!state.ok) {
      return c.html(
        problemPage("Link not usable", "This link is unknown, has expired or was already used."),
        httpStatusFor(state.error.reason),
      );
    }
    return c.html(passwordSetupPage({ flowId, state: state.value }));
  });

  app.post(PORTAL_FORMS.password, portalOnly, async (c) => {
    const raw = await formBody(c);
    const flowId = typeof raw.flowId === "string" ? raw.flowId : "";
    const state = getAccountFlowState(ctx, flowId);
    if (!state.ok) {
      return c.html(
        problemPage("Link not usable", "This link is unknown, has expired or was already used."),
        httpStatusFor(state.error.reason),
      );
    }
    const form = parseWith(PasswordFormSchema, raw);
    if (!form.ok) {
      return c.html(
        passwordSetupPage({ flowId, state: state.value, error: "Enter the new password twice." }),
        400,
      );
    }
    if (form.value.password !== form.value.confirm) {
      return c.html(
        passwordSetupPage({ flowId, state: state.value, error: "The two passwords differ." }),
        400,
      );
    }
    const done = await setAccountFlowPassword(ctx, flowId, form.value.password);
    if (!done.ok) {
      return c.html(
        passwordSetupPage({ flowId, state: state.value, error: done.error.message }),
        httpStatusFor(done.error.reason),
      );
    }
    return c.html(passwordDonePage({ username: done.value.username, bootstrap: state.value.bootstrap }));
  });

  return app;
}
