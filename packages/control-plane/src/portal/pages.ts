/**
 * Server-rendered pages of the built-in login portal. Pages use no scripts and only the same-origin
 * stylesheet; forms post to the portal's own routes. Every page has `lang`, one `h1`, labelled
 * inputs and real buttons.
 */
import type { AccountFlowState } from "../flows/account.js";
import type { UserContractApproval } from "../flows/approval.js";
import type { FlowApp, FlowProvider, FlowUser } from "../flows/login.js";
import { PORTAL_ASSETS_PATH } from "../flows/paths.js";
import { PORTAL_STYLESHEET } from "./assets.js";
import { html, type SafeHtml } from "./html.js";

/** Form targets of the portal pages. */
export const PORTAL_FORMS = {
  signIn: "/_trellis/portal/users/login",
  approval: "/_trellis/portal/users/approval",
  password: "/_trellis/portal/account/password",
} as const;

function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · Trellis</title>
<link rel="stylesheet" href="${PORTAL_ASSETS_PATH}/${PORTAL_STYLESHEET}">
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`.value;
}

function errorNotice(message: string | undefined): SafeHtml {
  return message === undefined ? html`` : html`<p class="error" role="alert">${message}</p>`;
}

function appLine(app: FlowApp): SafeHtml {
  return html`<p>to continue to <strong>${app.displayName}</strong>${
    app.origin === undefined ? "" : html` at <code>${app.origin}</code>`
  }.</p>`;
}

/** The sign-in form (`choose_provider`). */
export function signInPage(input: {
  flowId: string;
  app: FlowApp;
  providers: readonly FlowProvider[];
  error?: string;
  username?: string;
}): string {
  const local = input.providers.some((provider) => provider.id === "local");
  return page(
    "Sign in",
    html`<h1>Sign in</h1>
${appLine(input.app)}
${errorNotice(input.error)}
${
  local
    ? html`<form method="post" action="${PORTAL_FORMS.signIn}">
<input type="hidden" name="flowId" value="${input.flowId}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus value="${input.username ?? ""}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<div class="actions"><button type="submit" class="primary">Sign in</button></div>
</form>`
    : html`<p>No sign-in method is available.</p>`
}`,
  );
}

function capabilityList(approval: UserContractApproval, only?: readonly string[]): SafeHtml {
  const keys = only ?? Object.keys(approval.capabilities);
  if (keys.length === 0) return html`<p class="muted">It needs no special permissions.</p>`;
  return html`<ul class="capabilities">${keys.map((key) => {
    const capability = approval.capabilities[key];
    return html`<li><strong>${capability?.displayName ?? key}</strong> <code>${key}</code><br>${
      capability?.description ?? ""
    }${capability?.consequence === undefined ? "" : html`<br><strong>Consequence:</strong> <em>${capability.consequence}</em>`}</li>`;
  })}</ul>`;
}

/** The consent page (`approval_required`). */
export function consentPage(input: {
  flowId: string;
  app: FlowApp;
  user: FlowUser;
  approval: UserContractApproval;
  error?: string;
}): string {
  const { approval } = input;
  return page(
    "Approve access",
    html`<h1>Allow ${approval.displayName}?</h1>
<p class="muted">Signed in as ${input.user.name}.</p>
${errorNotice(input.error)}
<p>${approval.description}</p>
${input.app.origin === undefined ? "" : html`<p>Web app at <code>${input.app.origin}</code>.</p>`}
<h2>It will be able to act on your behalf with:</h2>
${capabilityList(approval)}
<form method="post" action="${PORTAL_FORMS.approval}">
<input type="hidden" name="flowId" value="${input.flowId}">
<div class="actions">
<button type="submit" name="decision" value="approve" class="primary">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>`,
  );
}

/** The page after approval (`redirect`): CLI flows return to the terminal, web flows follow a link. */
export function donePage(input: { location: string; web: boolean; appName?: string }): string {
  return page(
    "Signed in",
    html`<h1>You are signed in</h1>
${
  input.web
    ? html`<p>You can return to your app.</p>
<div class="actions"><a class="button primary" href="${input.location}">Continue to ${input.appName ?? "the app"}</a></div>`
    : html`<p>You can return to your terminal or app now. This window can be closed.</p>`
}`,
  );
}

function returnLink(returnLocation: string | undefined): SafeHtml {
  return returnLocation === undefined
    ? html``
    : html`<div class="actions"><a class="button" href="${returnLocation}">Return to the app</a></div>`;
}

/** The page after the user denied consent. */
export function deniedPage(input: { returnLocation?: string }): string {
  return page(
    "Access denied",
    html`<h1>Access denied</h1>
<p>You did not allow the app to act on your behalf. Nothing was shared with it.</p>
${returnLink(input.returnLocation)}`,
  );
}

/** The page of an unknown, expired or already finished flow. */
export function expiredPage(input: { returnLocation?: string }): string {
  return page(
    "Sign-in expired",
    html`<h1>This sign-in has expired</h1>
<p>Start the sign-in again from your terminal or app.</p>
${returnLink(input.returnLocation)}`,
  );
}

/** The page when the user lacks capabilities the contract needs (`insufficient_capabilities`). */
export function insufficientPage(input: {
  app: FlowApp;
  user: FlowUser;
  approval: UserContractApproval;
  missingCapabilities: readonly string[];
}): string {
  return page(
    "Missing permissions",
    html`<h1>You cannot use ${input.approval.displayName}</h1>
<p>Your account (${input.user.name}) lacks permissions this app requires. Ask an administrator to grant them:</p>
${capabilityList(input.approval, input.missingCapabilities)}`,
  );
}

/** The page when the account was deactivated. */
export function inactivePage(): string {
  return page(
    "Account inactive",
    html`<h1>Your account is inactive</h1>
<p>Ask an administrator to activate your account, then sign in again.</p>`,
  );
}

/** A generic failure page. */
export function problemPage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1><p>${message}</p>`);
}

/** The password setup form of an account flow (admin bootstrap or password reset). */
export function passwordSetupPage(input: {
  flowId: string;
  state: AccountFlowState;
  error?: string;
}): string {
  const { state } = input;
  return page(
    state.bootstrap ? "Set up the administrator" : "Choose a password",
    html`<h1>${state.bootstrap ? "Set up the administrator" : "Choose a password"}</h1>
${
  state.username === null
    ? ""
    : html`<p>Choose the password of the local account <strong>${state.username}</strong>.</p>`
}
${errorNotice(input.error)}
<form method="post" action="${PORTAL_FORMS.password}">
<input type="hidden" name="flowId" value="${input.flowId}">
${
  state.username === null
    ? ""
    : html`<input type="hidden" name="username" autocomplete="username" value="${state.username}">`
}
<label for="password">New password</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="${state.passwordMinLength}" required autofocus aria-describedby="password-help">
<p id="password-help" class="muted">At least ${state.passwordMinLength} characters.</p>
<label for="confirm">Repeat the password</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" required>
<div class="actions"><button type="submit" class="primary">Set password</button></div>
</form>`,
  );
}

/** The page after an account flow set the password. */
export function passwordDonePage(input: { username: string | null; bootstrap: boolean }): string {
  return page(
    "Password set",
    html`<h1>Password set</h1>
<p>${
      input.username === null
        ? "The password was set."
        : html`The password of <strong>${input.username}</strong> was set.`
    }${input.bootstrap ? " The account is now an active administrator." : ""}</p>
<p>You can now sign in with it. This link cannot be used again.</p>`,
  );
}
