/**
 * Connecting an app or agent through the control plane (auth spec §1.5, §5.1): bootstrap the session
 * (`POST /bootstrap/client`); when the session is not bound yet, start a login request, let the caller
 * complete the flow (`onAuthRequired`), bind it, and bootstrap again; then connect to NATS as the
 * sentinel user with a fresh runtime token per (re)connect, through the auth callout.
 */
import type { AnyContractModule } from "@trellis/contracts";
import { z } from "zod";
import { ServerClock } from "../auth/clock.js";
import { generateSessionSeed, sessionKeyFromSeed } from "../auth/keys.js";
import { natsConnectToken, oauthInitValue, signDomain } from "../auth/proofs.js";
import { connectToNats } from "../connection/connection.js";
import { AuthError, TransportError } from "../errors/errors.js";
import { type LoggerOption, resolveLogger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { TrellisClient } from "./client.js";

/** Where the user must go to sign in, handed to `onAuthRequired`. */
export interface AuthRequiredInfo {
  /** The portal URL to open. */
  loginUrl: string;
  /** The flow to wait for. */
  flowId: string;
  /** The control plane's base URL. */
  trellisUrl: string;
}

/** Options of {@link connectClient}. */
export interface ConnectClientOptions<M extends AnyContractModule> {
  /** Base URL of the control plane, e.g. `http://127.0.0.1:3000`. */
  trellisUrl: string;
  /** The app or agent contract. */
  contract: M;
  /** A remembered session key seed; a new one is generated when absent (read it back from the client). */
  sessionKeySeed?: string;
  /**
   * Called when the user has to sign in; resolves once the flow is complete (for command-line tools:
   * print `loginUrl`, then `waitForDetachedFlow`).
   */
  onAuthRequired: (info: AuthRequiredInfo) => Promise<void>;
  /** Where the portal sends the user back; relative for detached (CLI) flows. */
  redirectTo?: string;
  /** Logging (`false` silences). */
  logger?: LoggerOption;
  /** Metrics sink. */
  metrics?: Metrics;
  /** HTTP timeout per request, ms (default 10 000). */
  httpTimeoutMs?: number;
}

const sentinelSchema = z.object({ jwt: z.string(), seed: z.string() });
const readySchema = z.object({
  status: z.literal("ready"),
  serverNow: z.number(),
  connectInfo: z.object({
    sessionKey: z.string(),
    contractId: z.string(),
    contractDigest: z.string(),
    transports: z.object({ native: z.object({ natsServers: z.array(z.string()) }).optional() }).loose(),
    transport: z.object({ inboxPrefix: z.string(), sentinel: sentinelSchema }).loose(),
  }),
});
const bootstrapSchema = z.union([
  readySchema.loose(),
  z.object({ status: z.literal("auth_required"), serverNow: z.number() }),
]);
const requestSchema = z.union([
  z.object({ status: z.literal("bound") }).loose(),
  z.object({ status: z.literal("flow_started"), flowId: z.string(), loginUrl: z.string() }),
]);
const errorSchema = z
  .object({
    reason: z.string().optional(),
    error: z.string().optional(),
    message: z.string().optional(),
    serverNow: z.number().optional(),
  })
  .loose();

async function post(
  url: string,
  body: unknown,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    throw new TransportError("trellis.bootstrap.failed", `Cannot reach ${url}: ${String(cause)}`, { cause });
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    throw new TransportError(
      "trellis.bootstrap.failed",
      `${url} answered ${response.status} with a body that is not JSON`,
    );
  }
  return { status: response.status, body: parsed };
}

function reasonOf(body: unknown): { reason: string; message?: string; serverNow?: number } {
  const parsed = errorSchema.safeParse(body);
  const reason = parsed.success ? (parsed.data.reason ?? parsed.data.error ?? "unknown") : "unknown";
  return {
    reason,
    ...(parsed.success && parsed.data.message && { message: parsed.data.message }),
    ...(parsed.success && parsed.data.serverNow !== undefined && { serverNow: parsed.data.serverNow }),
  };
}

/** Signs in (when needed) and connects an app or agent; resolves to its typed client. */
export async function connectClient<M extends AnyContractModule>(
  options: ConnectClientOptions<M>,
): Promise<TrellisClient<M> & { sessionKeySeed: string }> {
  const base = options.trellisUrl.replace(/\/$/, "");
  const timeout = options.httpTimeoutMs ?? 10_000;
  const seed = options.sessionKeySeed ?? generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  const clock = new ServerClock();
  const logger = resolveLogger(options.logger, { contract: options.contract.CONTRACT_ID });

  /** Calls an iat-signed endpoint, retrying once with the server clock on `iat_out_of_range`. */
  const signedPost = async (path: string, build: (iat: number) => unknown) => {
    for (let attempt = 0; ; attempt++) {
      const sentAt = Date.now();
      const reply = await post(`${base}${path}`, build(clock.iat()), timeout);
      const { reason, serverNow } = reasonOf(reply.body);
      if (reply.status === 400 && reason === "iat_out_of_range" && serverNow !== undefined && attempt === 0) {
        clock.observe(serverNow, sentAt);
        continue;
      }
      return reply;
    }
  };

  const bootstrap = async () => {
    const reply = await signedPost("/bootstrap/client", (iat) => ({
      sessionKey,
      iat,
      sig: signDomain(seed, "bootstrap-client", String(iat)),
    }));
    const parsed = bootstrapSchema.safeParse(reply.body);
    if (!parsed.success) {
      const { reason, message } = reasonOf(reply.body);
      throw new AuthError(reason, message ?? `Client bootstrap failed (${reply.status})`);
    }
    return parsed.data;
  };

  let ready = await bootstrap();
  if (ready.status === "auth_required") {
    clock.observe(ready.serverNow, Date.now());
    await signIn();
    ready = await bootstrap();
    if (ready.status !== "ready")
      throw new AuthError("session_not_found", "Signed in, but the session is still not ready");
  }

  async function signIn(): Promise<void> {
    const redirectTo = options.redirectTo ?? "/_trellis/portal/users/login";
    const contract = options.contract.CONTRACT;
    const reply = await post(
      `${base}/auth/requests`,
      {
        redirectTo,
        sessionKey,
        contract,
        sig: signDomain(seed, "oauth-init", oauthInitValue({ redirectTo, contract })),
      },
      timeout,
    );
    const parsed = requestSchema.safeParse(reply.body);
    if (!parsed.success) {
      const { reason, message } = reasonOf(reply.body);
      throw new AuthError(reason, message ?? `Login request refused (${reply.status})`);
    }
    if (parsed.data.status === "bound") return;
    const { flowId, loginUrl } = parsed.data;
    await options.onAuthRequired({ loginUrl, flowId, trellisUrl: base });
    const bind = await post(
      `${base}/auth/flow/${encodeURIComponent(flowId)}/bind`,
      { sessionKey, sig: signDomain(seed, "bind-flow", flowId) },
      timeout,
    );
    const status = z.object({ status: z.string() }).loose().safeParse(bind.body);
    if (bind.status !== 200 || !status.success || status.data.status !== "bound") {
      const { reason, message } = reasonOf(bind.body);
      throw new AuthError(
        status.success && status.data.status !== "bound" ? status.data.status : reason,
        message ?? `Binding the login failed (${bind.status})`,
      );
    }
  }

  const info = ready.connectInfo;
  clock.observe(ready.serverNow, Date.now());
  const servers = info.transports.native?.natsServers ?? [];
  if (servers.length === 0)
    throw new TransportError("trellis.bootstrap.failed", "The control plane offered no NATS servers");
  const nc = await connectToNats({
    servers,
    sessionKey,
    name: options.contract.CONTRACT_ID,
    logger,
    credentials: {
      sentinel: info.transport.sentinel,
      token: () => natsConnectToken({ seed, iat: clock.iat(), contractDigest: info.contractDigest }),
    },
  });
  const client = TrellisClient.open({
    nc,
    contract: options.contract,
    sessionKeySeed: seed,
    clock,
    ...(options.logger !== undefined && { logger: options.logger }),
    ...(options.metrics && { metrics: options.metrics }),
  });
  return Object.assign(client, { sessionKeySeed: seed });
}

const flowStateSchema = z.object({ status: z.string() }).loose();

/**
 * Waits until a detached (command-line) login flow is approved: polls `GET /auth/flow/:flowId` until
 * it redirects. Denial, missing capabilities and expiry are `AuthError`s; `timeoutMs` bounds the wait.
 */
export async function waitForDetachedFlow(
  info: AuthRequiredInfo,
  options: { pollIntervalMs?: number; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5 * 60_000);
  // The control plane rate-limits /auth/* per address (60/min by default): poll gently.
  const interval = options.pollIntervalMs ?? 2000;
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted();
    const response = await fetch(`${info.trellisUrl}/auth/flow/${encodeURIComponent(info.flowId)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const state = flowStateSchema.safeParse(await response.json().catch(() => undefined));
    const status = state.success ? state.data.status : "invalid";
    if (status === "redirect") return;
    if (status === "approval_denied" || status === "insufficient_capabilities" || status === "expired") {
      throw new AuthError(status, `The login flow ended: ${status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  throw new AuthError("expired", "Timed out waiting for the login to be approved");
}
