/**
 * Browser login flows (auth spec §1.5, §5.1): a client with a fresh session key asks for a login
 * (`startAuthRequest`), the user signs in (`loginLocal`) and consents (`answerApproval`) in the
 * portal while the client polls (`getFlowState`), and the client binds its session key to the
 * approved contract (`bindFlow`).
 *
 * State lives in two KV buckets: the flow (`trellis_browser_flows`, key = flowId, lifetime
 * `ttlMs.oauth`) and, after sign-in, the pending auth (`trellis_pending_auth`, key =
 * base64url(SHA-256(authToken)), lifetime `ttlMs.pendingAuth`), which a bind consumes exactly once.
 */
import { randomBytes } from "node:crypto";
import {
  canonicalizeJson,
  clientInboxPrefix,
  digestContractManifest,
  type JsonValue,
  validateContractManifest,
} from "@trellis/contracts";
import { Result } from "@trellis/result";
import { oauthInitValue, verifyDomainSignature } from "@trellis/runtime/auth";
import { ulid } from "ulid";
import { type UserSessionDocument, UserSessionDocumentSchema } from "../auth/user-session.js";
import type { ControlPlaneContext, SentinelCredentials } from "../context.js";
import { notifySessionInvalidated } from "../rpc/session-authority.js";
import { iso, JsonObjectSchema, sha256Base64url } from "../store/codec.js";
import { LOCAL_PROVIDER, type UserIdentity } from "../store/identities-repository.js";
import { type IdentityAnchor, identityGrantIdFor } from "../store/identity-grants-repository.js";
import type { StoredSession } from "../store/sessions-repository.js";
import type { User } from "../store/users-repository.js";
import { localLogin } from "../users/passwords.js";
import {
  evaluateUserContractApproval,
  planUserContractApproval,
  storeContractResolver,
  type UserApprovalDecision,
  type UserContractApproval,
  type UserContractApprovalPlan,
} from "./approval.js";
import { FlowError } from "./errors.js";
import { PORTAL_LOGIN_PATH, portalUrl } from "./paths.js";
import {
  type BrowserFlow,
  BrowserFlowSchema,
  consumeRecord,
  createRecord,
  isExpired,
  type PendingAuth,
  PendingAuthSchema,
  readRecord,
  updateRecord,
} from "./records.js";
import {
  identityAnchorFor,
  storedRedirect,
  type ValidatedRedirect,
  validateRedirectTo,
  withQuery,
} from "./redirects.js";

/** Identity providers a login flow can use (only local accounts exist so far). */
export const LOGIN_PROVIDERS = [LOCAL_PROVIDER] as const;

/** Transports handed to clients. */
export type ClientTransports = { native: { natsServers: string[] } };

/** A session key bound to an approved contract: what the client needs to connect. */
export type BoundSession = {
  status: "bound";
  /** Inbox prefix the client must use: `_INBOX.<sessionKey[0:16]>`. */
  inboxPrefix: string;
  /** When the session expires (ISO), unless bound again. */
  expires: string;
  sentinel: SentinelCredentials;
  transports: ClientTransports;
};

/** Input of {@link startAuthRequest} (`POST /auth/requests`). */
export type AuthRequestInput = {
  provider?: string;
  redirectTo: string;
  sessionKey: string;
  /** `oauth-init` signature (4-field form, over the normalized redirectTo). */
  sig: string;
  contractDigest?: string;
  contract?: JsonValue;
  context?: JsonValue;
};

/** Answer of {@link startAuthRequest}. */
export type AuthRequestResult = BoundSession | { status: "flow_started"; flowId: string; loginUrl: string };

/** The app a flow signs in to, for the portal. */
export type FlowApp = {
  contractId: string;
  displayName: string;
  description: string;
  participantKind: "app" | "agent";
  /** Web origin of browser apps. */
  origin?: string;
};

/** An identity provider the portal can offer. */
export type FlowProvider = { id: string; displayName: string };

/** The signed-in user, for the portal. */
export type FlowUser = { userId: string; name: string };

/** What the portal (and a polling CLI) sees of a flow (`GET /auth/flow/:flowId`). */
export type PortalFlowState =
  | { status: "choose_provider"; flowId: string; app: FlowApp; providers: FlowProvider[] }
  | {
      status: "approval_required";
      flowId: string;
      app: FlowApp;
      user: FlowUser;
      approval: UserContractApproval;
      publishSubjects: string[];
      subscribeSubjects: string[];
    }
  | {
      status: "insufficient_capabilities";
      flowId: string;
      app: FlowApp;
      user: FlowUser;
      approval: UserContractApproval;
      missingCapabilities: string[];
      userCapabilities: string[];
    }
  | { status: "approval_denied"; flowId: string; returnLocation?: string }
  /** The account was deactivated after signing in. */
  | { status: "user_inactive"; flowId: string }
  /** Approved: the browser goes to `location` (`redirectTo?flowId=<id>`); the client binds. */
  | { status: "redirect"; flowId: string; location: string }
  | { status: "expired"; returnLocation?: string };

/** Answer of {@link bindFlow} (`POST /auth/flow/:flowId/bind`). */
export type BindResult =
  | BoundSession
  | {
      status: "insufficient_capabilities";
      approval: UserContractApproval;
      missingCapabilities: string[];
      userCapabilities: string[];
    }
  | { status: "expired" };

const PROVIDER_NAMES: Readonly<Record<string, string>> = { [LOCAL_PROVIDER]: "Username and password" };

function boundSession(ctx: ControlPlaneContext, sessionKey: string, lastAuth: string): BoundSession {
  return {
    status: "bound",
    inboxPrefix: clientInboxPrefix(sessionKey),
    expires: iso(new Date(Date.parse(lastAuth) + ctx.config.ttlMs.sessions)),
    sentinel: ctx.sentinel,
    transports: clientTransports(ctx),
  };
}

/** The transports clients connect with. */
export function clientTransports(ctx: ControlPlaneContext): ClientTransports {
  return { native: { natsServers: [...ctx.natsServers] } };
}

function planForDigest(
  ctx: ControlPlaneContext,
  digest: string,
): Result<UserContractApprovalPlan, FlowError> {
  const stored = ctx.store.contracts.get(digest);
  if (stored === undefined) return Result.err(new FlowError("manifest_required"));
  return planUserContractApproval(stored.manifest, storeContractResolver(ctx.store));
}

function flowApp(plan: UserContractApprovalPlan, flow: BrowserFlow): FlowApp {
  const { approval } = plan;
  return {
    contractId: approval.contractId,
    displayName: approval.displayName,
    description: approval.description,
    participantKind: approval.participantKind,
    ...(flow.app !== undefined && { origin: flow.app.origin }),
  };
}

function flowRedirect(flow: BrowserFlow): ValidatedRedirect {
  return storedRedirect(flow.redirectTo);
}

function flowAnchor(flow: BrowserFlow): IdentityAnchor {
  return identityAnchorFor(flowRedirect(flow), flow.contract.id, flow.sessionKey);
}

/** Where the browser goes once the flow is approved: `redirectTo?flowId=<id>`. */
function redirectLocation(flow: BrowserFlow): string {
  return withQuery(flow.redirectTo, { flowId: flow.flowId });
}

/** Where a web app learns that its flow failed (web flows only: a CLI page has nothing to show). */
function returnLocation(flow: BrowserFlow, authError: string): { returnLocation?: string } {
  return flow.app === undefined
    ? {}
    : { returnLocation: withQuery(flow.redirectTo, { flowId: flow.flowId, authError }) };
}

// ---------------------------------------------------------------------------------------------
// POST /auth/requests

/**
 * An existing session of `sessionKey` covers the request when it is bound to the same contract
 * digest, through the grant of this request's anchor, and that grant still covers the plan for an
 * active user with the required capabilities.
 */
function coveringSession(
  ctx: ControlPlaneContext,
  sessionKey: string,
  redirect: ValidatedRedirect,
  plan: UserContractApprovalPlan,
): StoredSession | undefined {
  const session = ctx.store.sessions.get(sessionKey, ctx.now());
  if (session?.type !== "user" || session.contractDigest !== plan.approval.contractDigest) return undefined;
  const document = UserSessionDocumentSchema.safeParse(session.session);
  if (!document.success) return undefined;
  const anchor = identityAnchorFor(redirect, plan.approval.contractId, sessionKey);
  if (session.identityGrantId !== identityGrantIdFor(document.data.userId, anchor)) return undefined;
  const decision = evaluateUserContractApproval(ctx.store, { userId: document.data.userId, anchor, plan });
  return decision.status === "approved" && decision.grant.identityGrantId === session.identityGrantId
    ? session
    : undefined;
}

/**
 * `POST /auth/requests`: checks the redirect target and the `oauth-init` signature, resolves and
 * plans the contract (a presented manifest is validated, checked against the claimed digest and
 * stored; a digest alone must be known), then answers `bound` when the session key's existing
 * session already covers the request, or starts a login flow.
 */
export async function startAuthRequest(
  ctx: ControlPlaneContext,
  input: AuthRequestInput,
): Promise<Result<AuthRequestResult, FlowError>> {
  const now = ctx.now();
  const redirect = validateRedirectTo(input.redirectTo, ctx.config.web.origins);
  if (!redirect.ok) return Result.err(redirect.error);

  const signed = oauthInitValue({
    redirectTo: redirect.value.redirectTo,
    ...(input.provider !== undefined && { provider: input.provider }),
    ...(input.contract !== undefined && { contract: input.contract }),
    ...(input.contractDigest !== undefined && { contractDigest: input.contractDigest }),
    ...(input.context !== undefined && { context: input.context }),
  });
  if (!verifyDomainSignature(input.sessionKey, "oauth-init", signed, input.sig)) {
    return Result.err(new FlowError("invalid_signature"));
  }
  if (input.provider !== undefined && !LOGIN_PROVIDERS.some((provider) => provider === input.provider)) {
    return Result.err(new FlowError("unknown_provider", `Unknown identity provider '${input.provider}'`));
  }

  let plan: UserContractApprovalPlan;
  if (input.contract !== undefined) {
    const validated = validateContractManifest(input.contract);
    if (!validated.ok) return Result.err(new FlowError("invalid_manifest", validated.error.message));
    const manifest = validated.value;
    const digest = digestContractManifest(manifest);
    if (input.contractDigest !== undefined && input.contractDigest !== digest) {
      return Result.err(
        new FlowError("contract_digest_mismatch", undefined, {
          claimedDigest: input.contractDigest,
          contractDigest: digest,
        }),
      );
    }
    const planned = planUserContractApproval(manifest, storeContractResolver(ctx.store));
    if (!planned.ok) return Result.err(planned.error);
    plan = planned.value;
    // Stored only once it is known to be a plannable app/agent contract signed by the requester.
    ctx.store.contracts.put(manifest, now);
  } else if (input.contractDigest !== undefined) {
    const planned = planForDigest(ctx, input.contractDigest);
    if (!planned.ok) return Result.err(planned.error);
    plan = planned.value;
  } else {
    return Result.err(new FlowError("invalid_request", "contract or contractDigest is required"));
  }

  const covering = coveringSession(ctx, input.sessionKey, redirect.value, plan);
  if (covering !== undefined) return Result.ok(boundSession(ctx, input.sessionKey, covering.lastAuth));

  const flowId = ulid();
  const flow: BrowserFlow = {
    flowId,
    kind: "login",
    sessionKey: input.sessionKey,
    redirectTo: redirect.value.redirectTo,
    ...(redirect.value.kind === "absolute" && { app: { origin: redirect.value.origin } }),
    ...(input.context !== undefined && { context: input.context }),
    contract: { id: plan.approval.contractId, digest: plan.approval.contractDigest },
    ...(input.provider !== undefined && { provider: input.provider }),
    createdAt: iso(now),
    expiresAt: iso(new Date(now.getTime() + ctx.config.ttlMs.oauth)),
  };
  if (!(await createRecord(ctx.kv.browserFlows, flowId, flow))) {
    return Result.err(new FlowError("flow_conflict"));
  }
  return Result.ok({
    status: "flow_started",
    flowId,
    loginUrl: portalUrl(ctx.publicOrigin, PORTAL_LOGIN_PATH, flowId),
  });
}

// ---------------------------------------------------------------------------------------------
// Flow and pending-auth loading

type LoadedFlow = { flow: BrowserFlow; revision: number };

/** The flow if it exists and has not expired; `undefined` otherwise (both look "expired" to callers). */
async function loadFlow(ctx: ControlPlaneContext, flowId: string): Promise<LoadedFlow | undefined> {
  const record = await readRecord(ctx.kv.browserFlows, flowId, BrowserFlowSchema);
  if (record.state !== "present" || record.value.flowId !== flowId) return undefined;
  if (isExpired(record.value.expiresAt, ctx.now())) return undefined;
  return { flow: record.value, revision: record.revision };
}

type LoadedPendingAuth =
  | { state: "present"; pending: PendingAuth; revision: number }
  /** Consumed by a bind. */
  | { state: "consumed" }
  /** Expired (or lost). */
  | { state: "expired" };

async function loadPendingAuth(ctx: ControlPlaneContext, authTokenHash: string): Promise<LoadedPendingAuth> {
  const record = await readRecord(ctx.kv.pendingAuth, authTokenHash, PendingAuthSchema);
  if (record.state === "deleted") return { state: "consumed" };
  if (record.state === "absent" || isExpired(record.value.expiresAt, ctx.now())) return { state: "expired" };
  return { state: "present", pending: record.value, revision: record.revision };
}

type FlowEvaluation = {
  plan: UserContractApprovalPlan;
  anchor: IdentityAnchor;
  decision: UserApprovalDecision;
};

function evaluateFlow(
  ctx: ControlPlaneContext,
  flow: BrowserFlow,
  pending: PendingAuth,
): Result<FlowEvaluation, FlowError> {
  const plan = planForDigest(ctx, flow.contract.digest);
  if (!plan.ok) return Result.err(plan.error);
  const anchor = flowAnchor(flow);
  const decision = evaluateUserContractApproval(ctx.store, {
    userId: pending.userId,
    anchor,
    plan: plan.value,
  });
  return Result.ok({ plan: plan.value, anchor, decision });
}

// ---------------------------------------------------------------------------------------------
// GET /auth/flow/:flowId

/** The flow's state for the portal and for polling clients. */
export async function getFlowState(
  ctx: ControlPlaneContext,
  flowId: string,
): Promise<Result<PortalFlowState, FlowError>> {
  const record = await readRecord(ctx.kv.browserFlows, flowId, BrowserFlowSchema);
  if (record.state !== "present" || record.value.flowId !== flowId) return Result.ok({ status: "expired" });
  const flow = record.value;
  if (isExpired(flow.expiresAt, ctx.now()))
    return Result.ok({ status: "expired", ...returnLocation(flow, "expired") });
  if (flow.boundAt !== undefined)
    return Result.ok({ status: "redirect", flowId, location: redirectLocation(flow) });
  if (flow.approvalDenied === true) {
    return Result.ok({ status: "approval_denied", flowId, ...returnLocation(flow, "approval_denied") });
  }

  if (flow.authTokenHash === undefined) {
    const plan = planForDigest(ctx, flow.contract.digest);
    if (!plan.ok) return Result.err(plan.error);
    return Result.ok({
      status: "choose_provider",
      flowId,
      app: flowApp(plan.value, flow),
      providers: LOGIN_PROVIDERS.map((id) => ({ id, displayName: PROVIDER_NAMES[id] ?? id })),
    });
  }
  const pending = await loadPendingAuth(ctx, flow.authTokenHash);
  if (pending.state === "consumed") {
    return Result.ok({ status: "redirect", flowId, location: redirectLocation(flow) });
  }
  if (pending.state === "expired")
    return Result.ok({ status: "expired", ...returnLocation(flow, "expired") });

  const evaluated = evaluateFlow(ctx, flow, pending.pending);
  if (!evaluated.ok) return Result.err(evaluated.error);
  const { plan, decision } = evaluated.value;
  const user: FlowUser = { userId: pending.pending.userId, name: pending.pending.user.name };
  switch (decision.status) {
    case "user_inactive":
      return Result.ok({ status: "user_inactive", flowId });
    case "insufficient_capabilities":
      return Result.ok({
        status: "insufficient_capabilities",
        flowId,
        app: flowApp(plan, flow),
        user,
        approval: plan.approval,
        missingCapabilities: decision.missingCapabilities,
        userCapabilities: decision.userCapabilities,
      });
    case "approval_required":
      return Result.ok({
        status: "approval_required",
        flowId,
        app: flowApp(plan, flow),
        user,
        approval: plan.approval,
        publishSubjects: plan.publishSubjects,
        subscribeSubjects: plan.subscribeSubjects,
      });
    case "approved":
      return Result.ok({ status: "redirect", flowId, location: redirectLocation(flow) });
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-in

/** Answer of {@link loginLocal}. */
export type LoginResult = { status: "authenticated"; flowId: string };

/**
 * Records that `user` signed in to a flow with `identity`: creates the pending auth (keyed by the
 * hash of a fresh authToken) and notes that key on the flow. A flow accepts one sign-in; a second
 * one is `already_authenticated`. Shared by every identity provider.
 */
export async function attachSignedInUser(
  ctx: ControlPlaneContext,
  flowId: string,
  signIn: { user: User; identity: UserIdentity },
): Promise<Result<LoginResult, FlowError>> {
  const now = ctx.now();
  const loaded = await loadFlow(ctx, flowId);
  if (loaded === undefined) return Result.err(new FlowError("flow_expired"));
  const { flow, revision } = loaded;
  if (flow.authTokenHash !== undefined) return Result.err(new FlowError("already_authenticated"));

  const authTokenHash = sha256Base64url(randomBytes(32).toString("base64url"));
  const pending: PendingAuth = {
    flowId,
    userId: signIn.user.userId,
    identity: {
      identityId: signIn.identity.identityId,
      provider: signIn.identity.provider,
      subject: signIn.identity.subject,
    },
    user: { name: signIn.user.name, email: signIn.user.email },
    sessionKey: flow.sessionKey,
    redirectTo: flow.redirectTo,
    ...(flow.app !== undefined && { app: flow.app }),
    contract: flow.contract,
    createdAt: iso(now),
    expiresAt: iso(new Date(now.getTime() + ctx.config.ttlMs.pendingAuth)),
  };
  if (!(await createRecord(ctx.kv.pendingAuth, authTokenHash, pending))) {
    return Result.err(new FlowError("flow_conflict"));
  }
  const next: BrowserFlow = { ...flow, authTokenHash, provider: signIn.identity.provider };
  if (!(await updateRecord(ctx.kv.browserFlows, flowId, next, revision))) {
    await ctx.kv.pendingAuth.delete(authTokenHash).catch(() => undefined);
    return Result.err(new FlowError("already_authenticated"));
  }
  return Result.ok({ status: "authenticated", flowId });
}

/** Input of {@link loginLocal}. */
export type LocalLoginInput = { flowId: string; username: string; password: string };

/**
 * `POST /auth/login/local`: checks a local username/password (with lockout) and signs the user in to
 * the flow. Failures: `invalid_credentials`, `account_locked`, `user_inactive`, `flow_expired`,
 * `already_authenticated`.
 */
export async function loginLocal(
  ctx: ControlPlaneContext,
  input: LocalLoginInput,
): Promise<Result<LoginResult, FlowError>> {
  // Checked first so an expired flow does not cost a password verification (or a lockout count).
  if ((await loadFlow(ctx, input.flowId)) === undefined) return Result.err(new FlowError("flow_expired"));
  const login = await localLogin(ctx.store, input.username, input.password, ctx.now());
  if (!login.ok) return Result.err(new FlowError(login.error.reason));
  const identity = ctx.store.identities.findLocal(input.username);
  if (identity === undefined) return Result.err(new FlowError("invalid_credentials"));
  return attachSignedInUser(ctx, input.flowId, { user: login.value, identity });
}

// ---------------------------------------------------------------------------------------------
// POST /auth/flow/:flowId/approval

/**
 * Records the signed-in user's consent answer. Approval upserts the identity grant of the flow's
 * anchor (the plan's capabilities and subjects); denial is only noted on the flow (never persisted).
 * Answers the flow's new state.
 */
export async function answerApproval(
  ctx: ControlPlaneContext,
  flowId: string,
  answer: { approved: boolean },
): Promise<Result<PortalFlowState, FlowError>> {
  const loaded = await loadFlow(ctx, flowId);
  if (loaded === undefined) return Result.err(new FlowError("flow_expired"));
  const { flow, revision } = loaded;
  if (flow.boundAt !== undefined) return getFlowState(ctx, flowId);
  if (flow.authTokenHash === undefined) return Result.err(new FlowError("login_required"));
  const pending = await loadPendingAuth(ctx, flow.authTokenHash);
  if (pending.state === "consumed") return getFlowState(ctx, flowId);
  if (pending.state === "expired") return Result.err(new FlowError("flow_expired"));

  const evaluated = evaluateFlow(ctx, flow, pending.pending);
  if (!evaluated.ok) return Result.err(evaluated.error);
  const { plan, anchor, decision } = evaluated.value;
  if (decision.status === "user_inactive") return Result.err(new FlowError("user_inactive"));
  if (decision.status === "insufficient_capabilities") {
    return Result.err(
      new FlowError("insufficient_capabilities", undefined, {
        missingCapabilities: decision.missingCapabilities,
      }),
    );
  }

  if (answer.approved) {
    const { identity, userId } = pending.pending;
    ctx.store.identityGrants.upsert(
      {
        userId,
        origin: identity.provider,
        externalId: identity.subject,
        anchor,
        contractDigest: plan.approval.contractDigest,
        contractId: plan.approval.contractId,
        participantKind: plan.approval.participantKind,
        approval: plan.approval,
        publishSubjects: plan.publishSubjects,
        subscribeSubjects: plan.subscribeSubjects,
      },
      ctx.now(),
    );
  }
  const denied = !answer.approved;
  if ((flow.approvalDenied === true) !== denied) {
    const { approvalDenied: _previous, ...rest } = flow;
    const next: BrowserFlow = denied ? { ...rest, approvalDenied: true } : rest;
    if (!(await updateRecord(ctx.kv.browserFlows, flowId, next, revision))) {
      return Result.err(new FlowError("flow_conflict"));
    }
  }
  return getFlowState(ctx, flowId);
}

// ---------------------------------------------------------------------------------------------
// POST /auth/flow/:flowId/bind

/** Input of {@link bindFlow}. */
export type BindFlowInput = { sessionKey: string; sig: string };

/** `true` when replacing `previous` changes who the session is or what it may do. */
function sessionAuthorityChanged(previous: StoredSession, next: StoredSession): boolean {
  const authority = (session: StoredSession) =>
    canonicalizeJson({
      type: session.type,
      trellisId: session.trellisId,
      contractDigest: session.contractDigest,
      identityGrantId: session.identityGrantId,
      session: session.session,
    });
  return authority(previous) !== authority(next);
}

/**
 * Binds the flow's session key to the approved contract. Only the key that started the flow may
 * bind (`session_key_mismatch`, `invalid_signature` over `bind-flow:<flowId>`); consent must be
 * given (`approval_required`, `approval_denied`) for an active user (`user_inactive`) holding every
 * required capability (else an `insufficient_capabilities` answer). The pending auth is consumed
 * exactly once (`authtoken_already_used`). The session row carries the {@link UserSessionDocument};
 * when the key was bound before to another identity, contract or grant, its live connections are
 * kicked so they reconnect with the new rights.
 */
export async function bindFlow(
  ctx: ControlPlaneContext,
  flowId: string,
  input: BindFlowInput,
): Promise<Result<BindResult, FlowError>> {
  const loaded = await loadFlow(ctx, flowId);
  if (loaded === undefined) return Result.ok({ status: "expired" });
  const { flow, revision } = loaded;
  if (input.sessionKey !== flow.sessionKey) return Result.err(new FlowError("session_key_mismatch"));
  if (!verifyDomainSignature(input.sessionKey, "bind-flow", flowId, input.sig)) {
    return Result.err(new FlowError("invalid_signature"));
  }
  if (flow.boundAt !== undefined) return Result.err(new FlowError("authtoken_already_used"));
  if (flow.approvalDenied === true) return Result.err(new FlowError("approval_denied"));
  if (flow.authTokenHash === undefined) return Result.err(new FlowError("login_required"));
  const pending = await loadPendingAuth(ctx, flow.authTokenHash);
  if (pending.state === "consumed") return Result.err(new FlowError("authtoken_already_used"));
  if (pending.state === "expired") return Result.ok({ status: "expired" });

  const evaluated = evaluateFlow(ctx, flow, pending.pending);
  if (!evaluated.ok) return Result.err(evaluated.error);
  const { plan, decision } = evaluated.value;
  switch (decision.status) {
    case "user_inactive":
      return Result.err(new FlowError("user_inactive"));
    case "approval_required":
      return Result.err(new FlowError("approval_required"));
    case "insufficient_capabilities":
      return Result.ok({
        status: "insufficient_capabilities",
        approval: plan.approval,
        missingCapabilities: decision.missingCapabilities,
        userCapabilities: decision.userCapabilities,
      });
    case "approved":
      break;
  }

  if (!(await consumeRecord(ctx.kv.pendingAuth, flow.authTokenHash, pending.revision))) {
    return Result.err(new FlowError("authtoken_already_used"));
  }
  const now = ctx.now();
  // Best effort: the consumed pending auth already prevents a second bind.
  await updateRecord(ctx.kv.browserFlows, flowId, { ...flow, boundAt: iso(now) }, revision);

  const { userId, identity } = pending.pending;
  const document: UserSessionDocument = {
    userId,
    identity,
    participantKind: plan.approval.participantKind,
    delegatedCapabilities: Object.keys(plan.approval.capabilities).sort(),
    delegatedPublishSubjects: plan.publishSubjects,
    delegatedSubscribeSubjects: plan.subscribeSubjects,
    redirectTo: flow.redirectTo,
    ...(flow.app !== undefined && { appOrigin: flow.app.origin }),
  };
  const previous = ctx.store.sessions.get(flow.sessionKey, now);
  const session = ctx.store.sessions.upsert(
    {
      sessionKey: flow.sessionKey,
      trellisId: userId,
      type: "user",
      origin: identity.provider,
      externalId: identity.subject,
      identityGrantId: decision.grant.identityGrantId,
      contractDigest: plan.approval.contractDigest,
      contractId: plan.approval.contractId,
      participantKind: plan.approval.participantKind,
      session: JsonObjectSchema.parse(document),
    },
    now,
  );
  notifySessionInvalidated(ctx.store, flow.sessionKey);
  if (previous !== undefined && sessionAuthorityChanged(previous, session)) {
    try {
      await ctx.connections.kickSession(flow.sessionKey);
    } catch (error) {
      ctx.logger.warn({ err: error, sessionKey: flow.sessionKey }, "Could not kick a rebound session");
    }
  }
  return Result.ok(boundSession(ctx, flow.sessionKey, session.lastAuth));
}
