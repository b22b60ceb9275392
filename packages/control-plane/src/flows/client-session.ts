/**
 * What a bound client does with its session key outside NATS (auth spec §5.1): fetch its connect
 * info (`POST /bootstrap/client`) and log out (`POST /auth/sessions/logout`). Both are proven with a
 * fresh (±30 s) domain signature of the session key.
 */
import { canonicalizeJson, clientInboxPrefix } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { verifyDomainSignature } from "@trellis/runtime/auth";
import { UserSessionDocumentSchema } from "../auth/user-session.js";
import { resolveUserSession } from "../callout/user-principals.js";
import type { ControlPlaneContext, SentinelCredentials } from "../context.js";
import { revokeSession } from "../rpc/revocation.js";
import { notifySessionInvalidated } from "../rpc/session-authority.js";
import { FlowError } from "./errors.js";
import { checkIatFreshness, serverNowSeconds } from "./freshness.js";
import { type ClientTransports, clientTransports } from "./login.js";
import { validateLogoutReturnTo } from "./redirects.js";

/** Input of {@link bootstrapClient}. */
export type BootstrapClientInput = {
  sessionKey: string;
  /** Unix seconds. */
  iat: number;
  /** `bootstrap-client` signature over `String(iat)`. */
  sig: string;
};

/** Everything a bound client needs to connect. */
export type ClientReady = {
  status: "ready";
  serverNow: number;
  connectInfo: {
    sessionKey: string;
    contractId: string;
    contractDigest: string;
    transports: ClientTransports;
    transport: { inboxPrefix: string; sentinel: SentinelCredentials };
  };
  contract: { id: string; digest: string; displayName: string; description: string };
  user: {
    userId: string;
    identity: { identityId: string; provider: string; subject: string };
    email: string | null;
    name: string;
  };
  binding: {
    contractId: string;
    digest: string;
    capabilities: string[];
    publishSubjects: string[];
    subscribeSubjects: string[];
  };
};

/** Answer of {@link bootstrapClient}. */
export type BootstrapClientResult = ClientReady | { status: "auth_required"; serverNow: number };

/**
 * `POST /bootstrap/client`: the connect info of the session key's bound user session, or
 * `auth_required` (login again) when there is none. A session whose user is gone, inactive or lost a
 * delegated capability, or whose contract is unknown or not an app/agent contract, is deleted.
 */
export function bootstrapClient(
  ctx: ControlPlaneContext,
  input: BootstrapClientInput,
): Result<BootstrapClientResult, FlowError> {
  const now = ctx.now();
  const serverNow = serverNowSeconds(now);
  const fresh = checkIatFreshness(input.iat, now);
  if (!fresh.ok) return Result.err(fresh.error);
  if (!verifyDomainSignature(input.sessionKey, "bootstrap-client", String(input.iat), input.sig)) {
    return Result.err(new FlowError("invalid_signature"));
  }
  const authRequired = { status: "auth_required", serverNow } as const;
  const session = ctx.store.sessions.get(input.sessionKey, now);
  if (session?.type !== "user") return Result.ok(authRequired);

  const resolved = resolveUserSession(ctx.store, input.sessionKey, undefined);
  const contract =
    session.contractDigest === null ? undefined : ctx.store.contracts.get(session.contractDigest);
  const user = resolved.ok ? ctx.store.users.get(resolved.value.document.userId) : undefined;
  if (
    !resolved.ok ||
    user === undefined ||
    contract === undefined ||
    (contract.manifest.kind !== "app" && contract.manifest.kind !== "agent")
  ) {
    ctx.store.sessions.delete(input.sessionKey);
    notifySessionInvalidated(ctx.store, input.sessionKey);
    return Result.ok(authRequired);
  }
  const { document } = resolved.value;
  return Result.ok({
    status: "ready",
    serverNow,
    connectInfo: {
      sessionKey: input.sessionKey,
      contractId: contract.contractId,
      contractDigest: contract.digest,
      transports: clientTransports(ctx),
      transport: { inboxPrefix: clientInboxPrefix(input.sessionKey), sentinel: ctx.sentinel },
    },
    contract: {
      id: contract.contractId,
      digest: contract.digest,
      displayName: contract.displayName,
      description: contract.description,
    },
    user: { userId: user.userId, identity: document.identity, email: user.email, name: user.name },
    binding: {
      contractId: contract.contractId,
      digest: contract.digest,
      capabilities: document.delegatedCapabilities,
      publishSubjects: document.delegatedPublishSubjects,
      subscribeSubjects: document.delegatedSubscribeSubjects,
    },
  });
}

/** Input of {@link logoutSession}. Every present optional field is covered by the signature. */
export type LogoutInput = {
  sessionKey: string;
  iat: number;
  /** `logout-session` signature over `canonicalJson({iat, …present optional fields})`. */
  sig: string;
  providerLogout?: boolean;
  federatedProviderLogout?: boolean;
  returnTo?: string;
  responseMode?: "json" | "redirect";
};

/** Answer of {@link logoutSession}. */
export type LogoutResult = {
  success: true;
  /** The accepted `returnTo` (with `responseMode: "redirect"` the HTTP answer is a 303 to it). */
  redirectTo?: string;
};

/**
 * `POST /auth/sessions/logout`: deletes the session key's user session, kicks its live connections
 * and publishes `Auth.Sessions.Revoked`. `returnTo` must be on the session's web app origin, which
 * must be loopback or explicitly configured (`*` never authorizes a return target).
 */
export async function logoutSession(
  ctx: ControlPlaneContext,
  input: LogoutInput,
): Promise<Result<LogoutResult, FlowError>> {
  const now = ctx.now();
  const fresh = checkIatFreshness(input.iat, now);
  if (!fresh.ok) return Result.err(fresh.error);
  const signed = canonicalizeJson({
    iat: input.iat,
    ...(input.providerLogout !== undefined && { providerLogout: input.providerLogout }),
    ...(input.federatedProviderLogout !== undefined && {
      federatedProviderLogout: input.federatedProviderLogout,
    }),
    ...(input.returnTo !== undefined && { returnTo: input.returnTo }),
    ...(input.responseMode !== undefined && { responseMode: input.responseMode }),
  });
  if (!verifyDomainSignature(input.sessionKey, "logout-session", signed, input.sig)) {
    return Result.err(new FlowError("invalid_logout_signature"));
  }
  const session = ctx.store.sessions.get(input.sessionKey, now);
  if (session?.type !== "user") return Result.err(new FlowError("logout_session_not_found"));

  let redirectTo: string | undefined;
  if (input.returnTo !== undefined) {
    const document = UserSessionDocumentSchema.safeParse(session.session);
    const appOrigin = document.success ? document.data.appOrigin : undefined;
    const checked = validateLogoutReturnTo(input.returnTo, appOrigin, ctx.config.web.origins);
    if (!checked.ok) return Result.err(checked.error);
    redirectTo = checked.value;
  }

  await revokeSession(ctx, input.sessionKey, session.trellisId);
  return Result.ok({ success: true, ...(redirectTo !== undefined && { redirectTo }) });
}
