/**
 * Connecting a service through the control plane (runtime spec §6.1, auth spec §5.1): bootstrap with
 * `POST /bootstrap/service` until the deployment is ready (retrying through outages, clock skew and
 * pending authority plans), connect to NATS as the sentinel user with a fresh runtime token per
 * (re)connect, then open the {@link TrellisService} with the resources reconciliation bound and an
 * authenticator backed by `Auth.Requests.Validate`.
 */
import type { AnyContractModule } from "@trellis/contracts";
import { z } from "zod";
import { ServerClock } from "../auth/clock.js";
import { sessionKeyFromSeed } from "../auth/keys.js";
import { natsConnectToken, natsConnectValue, signDomain } from "../auth/proofs.js";
import { connectToNats, drainOrClose } from "../connection/connection.js";
import { TransportError } from "../errors/errors.js";
import { ProofCallerAuthenticator } from "../rpc/authenticator.js";
import { RpcClient } from "../rpc/client.js";
import { ValidateSessionAuthority } from "../rpc/validate-authority.js";
import { type Logger, type LoggerOption, resolveLogger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { TrellisService } from "./service.js";

/** How the bootstrap loop retries. */
export interface ServiceBootstrapOptions {
  /** Longest wait between attempts while the endpoint is unreachable, ms (default 30 000; the first is 1 s). */
  maxBackoffMs?: number;
  /** Longest wait a `Retry-After` may ask for, ms (default 60 000). */
  retryAfterMaxMs?: number;
  /** Timeout of one HTTP request, ms (default 10 000). */
  httpTimeoutMs?: number;
  /** Stops the bootstrap loop with a `trellis.bootstrap.aborted` error (not a NATS connect under way). */
  signal?: AbortSignal;
}

/** Options of {@link connectService}. */
export interface ConnectServiceOptions<M extends AnyContractModule> {
  /** Base URL of the control plane, e.g. `http://127.0.0.1:3000`. */
  trellisUrl: string;
  /** The service contract. */
  contract: M;
  /** Service name: queue group, health name, error context. */
  name: string;
  /** The service instance's session key seed (its public key was provisioned as the instance key). */
  sessionKeySeed: string;
  /** Logging (`false` silences). */
  logger?: LoggerOption;
  /** Metrics sink. */
  metrics?: Metrics;
  /** Heartbeat settings (default every 30 s); `false` disables heartbeats. */
  heartbeat?: { publishIntervalMs?: number } | false;
  /** Most requests handled at once per surface (default 256). */
  maxConcurrent?: number;
  /** Job worker settings (shutdown grace, presence period). */
  jobs?: { shutdownGraceMs?: number; presenceIntervalMs?: number };
  /** Bootstrap retry settings. */
  bootstrap?: ServiceBootstrapOptions;
}

const FIRST_BACKOFF_MS = 1000;
const DEFAULT_RETRY_AFTER_MS = 5000;
/** Shortest wait between attempts while waiting on the control plane, so `Retry-After: 0` cannot spin. */
const MIN_RETRY_AFTER_MS = 250;

/** 202/409 reasons that mean "not yet": wait and present the manifest again. */
const WAIT_REASONS = new Set([
  "authority_update_required",
  "authority_migration_required",
  "authority_reconciliation_pending",
  "authority_reconciliation_failed",
  "contract_activation_pending",
  "contract_catalog_issue",
]);

/** Answers of a proxy in front of an unreachable control plane: retried like a network failure. */
const GATEWAY_STATUSES = new Set([502, 503, 504]);

const kvBindingSchema = z.looseObject({
  bucket: z.string().min(1),
  history: z.int().min(1),
  ttlMs: z.int().min(0),
  maxValueBytes: z.int().min(1).optional(),
});
const eventConsumerBindingSchema = z.looseObject({
  stream: z.string().min(1),
  consumerName: z.string().min(1),
  filterSubjects: z.array(z.string()).optional(),
});
const jobQueueBindingSchema = z.looseObject({
  queueType: z.string().min(1),
  publishPrefix: z.string().min(1),
  workSubject: z.string().min(1),
  consumerName: z.string().min(1),
  payload: z.looseObject({ schema: z.string().min(1) }),
  result: z.looseObject({ schema: z.string().min(1) }).optional(),
  maxDeliver: z.int().min(1),
  backoffMs: z.array(z.int().min(0)),
  ackWaitMs: z.int().min(1),
  defaultDeadlineMs: z.int().min(1).optional(),
  progress: z.boolean(),
  logs: z.boolean(),
  dlq: z.boolean(),
  concurrency: z.int().min(1),
});
const jobsBindingSchema = z.looseObject({
  namespace: z.string().min(1),
  workStream: z.string().min(1).optional(),
  queues: z.record(z.string(), jobQueueBindingSchema),
});
/** The ready reply; `binding.resources` has the `Trellis.Bindings.Get` shape. */
const readySchema = z.looseObject({
  status: z.literal("ready"),
  serverNow: z.union([z.number(), z.string()]),
  connectInfo: z.looseObject({
    sessionKey: z.string(),
    contractId: z.string(),
    contractDigest: z.string(),
    transports: z.looseObject({
      native: z.looseObject({ natsServers: z.array(z.string().min(1)) }).optional(),
    }),
    transport: z.looseObject({
      sentinel: z.object({ jwt: z.string().min(1), seed: z.string().min(1) }),
    }),
  }),
  binding: z.looseObject({
    contractId: z.string(),
    digest: z.string(),
    resources: z.looseObject({
      kv: z.record(z.string(), kvBindingSchema).optional(),
      eventConsumers: z.record(z.string(), eventConsumerBindingSchema).optional(),
      jobs: jobsBindingSchema.optional(),
      /** Our extension: the deployment's operations bucket (design/authority.md). */
      operations: z.looseObject({ bucket: z.string().min(1) }).optional(),
    }),
  }),
});
type Ready = z.infer<typeof readySchema>;

const refusalSchema = z.looseObject({
  reason: z.string().optional(),
  message: z.string().optional(),
  serverNow: z.union([z.number(), z.string()]).optional(),
  planId: z.string().optional(),
});

/** One answer of the bootstrap endpoint. */
interface Reply {
  status: number;
  body: unknown;
  retryAfter: string | null;
  sentAt: number;
  receivedAt: number;
}

function aborted(signal: AbortSignal): TransportError {
  return new TransportError("trellis.bootstrap.aborted", "Service bootstrap was aborted", {
    cause: signal.reason,
  });
}

/** Waits `ms`, or rejects with the abort error when `signal` fires first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `Retry-After` (seconds or an HTTP date) in ms, within `[MIN_RETRY_AFTER_MS, maxMs]`. */
function retryAfterMs(header: string | null, maxMs: number): number {
  let ms = DEFAULT_RETRY_AFTER_MS;
  if (header !== null && /^\d+$/.test(header.trim())) ms = Number(header.trim()) * 1000;
  else if (header !== null && Number.isFinite(Date.parse(header))) ms = Date.parse(header) - Date.now();
  return Math.min(Math.max(ms, MIN_RETRY_AFTER_MS), maxMs);
}

/** The info line for a wait reason: what the service waits for and what an administrator can do. */
function waitMessage(reason: string, planId: string | undefined): string {
  switch (reason) {
    case "authority_update_required":
      return `Service deployment authority pending: an administrator must accept plan ${planId ?? "(unknown)"} with Auth.DeploymentAuthority.AcceptUpdate`;
    case "authority_migration_required":
      return `Service deployment authority pending: an administrator must accept migration plan ${planId ?? "(unknown)"} with Auth.DeploymentAuthority.AcceptMigration (with an acknowledgement)`;
    case "authority_reconciliation_pending":
      return "Service deployment authority pending: reconciliation is in progress";
    case "authority_reconciliation_failed":
      return "Service deployment authority pending: reconciliation failed and will be retried (Auth.DeploymentAuthority.Reconcile)";
    case "contract_activation_pending":
      return "Service contract activation pending; a required dependency is not active yet";
    default:
      return "Service contract has a catalog issue; waiting for it to be resolved (Auth.CatalogIssues.Resolve)";
  }
}

/** The bootstrap loop of runtime spec §6.1 step 3; resolves to the ready reply. */
async function bootstrap<M extends AnyContractModule>(
  options: ConnectServiceOptions<M>,
  clock: ServerClock,
  logger: Logger,
): Promise<{ ready: Ready; reply: Reply }> {
  const url = `${options.trellisUrl.replace(/\/$/, "")}/bootstrap/service`;
  const settings = options.bootstrap ?? {};
  const { signal } = settings;
  const maxBackoffMs = settings.maxBackoffMs ?? 30_000;
  const retryAfterMaxMs = settings.retryAfterMaxMs ?? 60_000;
  const httpTimeoutMs = settings.httpTimeoutMs ?? 10_000;
  const seed = options.sessionKeySeed;
  const sessionKey = sessionKeyFromSeed(seed);
  const contractDigest = options.contract.CONTRACT_DIGEST;
  const announced = new Set<string>();
  let withManifest = false;
  let backoffMs = FIRST_BACKOFF_MS;
  let clockCorrected = false;

  /** Waits out an unreachable endpoint: 1 s, doubling up to `maxBackoffMs`. */
  const backOff = async (detail: string): Promise<void> => {
    const retryInMs = Math.min(backoffMs, maxBackoffMs);
    logger.warn({ url, retryInMs, detail }, "Service bootstrap endpoint unavailable; retrying");
    await sleep(retryInMs, signal);
    backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
  };

  const send = async (): Promise<Reply | undefined> => {
    const iat = clock.iat();
    const body = {
      sessionKey,
      contractId: options.contract.CONTRACT_ID,
      contractDigest,
      ...(withManifest && { contract: options.contract.CONTRACT }),
      iat,
      sig: signDomain(seed, "nats-connect", natsConnectValue(iat, contractDigest)),
    };
    const timeout = AbortSignal.timeout(httpTimeoutMs);
    const sentAt = Date.now();
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text === "" ? undefined : JSON.parse(text);
      } catch {
        parsed = text;
      }
      const retryAfter = response.headers.get("retry-after");
      return { status: response.status, body: parsed, retryAfter, sentAt, receivedAt: Date.now() };
    } catch (cause) {
      if (signal?.aborted) throw aborted(signal);
      await backOff(String(cause));
      return undefined;
    }
  };

  for (;;) {
    if (signal?.aborted) throw aborted(signal);
    const reply = await send();
    if (!reply) continue;
    if (GATEWAY_STATUSES.has(reply.status)) {
      await backOff(`HTTP ${reply.status}`);
      continue;
    }
    backoffMs = FIRST_BACKOFF_MS;
    if (reply.status === 200) {
      const ready = readySchema.safeParse(reply.body);
      if (!ready.success) {
        throw new TransportError(
          "trellis.bootstrap.failed",
          `The control plane's ready reply is malformed: ${z.prettifyError(ready.error)}`,
        );
      }
      return { ready: ready.data, reply };
    }
    const refusal = refusalSchema.safeParse(reply.body);
    const {
      reason = `http_${reply.status}`,
      message,
      serverNow,
      planId,
    } = refusal.success ? refusal.data : {};
    if (reason === "iat_out_of_range" && serverNow !== undefined && !clockCorrected) {
      clock.observe(serverNow, reply.sentAt, reply.receivedAt);
      clockCorrected = true;
      logger.info({ offsetMs: clock.offsetMs }, "Service clock corrected from the control plane's time");
      continue;
    }
    clockCorrected = false;
    if (reason === "manifest_required" && !withManifest) {
      withManifest = true;
      continue;
    }
    if (WAIT_REASONS.has(reason)) {
      withManifest = true;
      const waitMs = retryAfterMs(reply.retryAfter, retryAfterMaxMs);
      const key = `${reason}:${planId ?? ""}`;
      if (!announced.has(key)) {
        announced.add(key);
        logger.info(
          { reason, ...(planId && { planId }), ...(message && { detail: message }), retryInMs: waitMs },
          waitMessage(reason, planId),
        );
      }
      await sleep(waitMs, signal);
      continue;
    }
    throw new TransportError(
      "trellis.bootstrap.failed",
      `Service bootstrap refused (${reply.status} ${reason})${message ? `: ${message}` : ""}`,
      { context: { status: reply.status, reason, ...(planId && { planId }) } },
    );
  }
}

/**
 * Bootstraps the service through the control plane, connects it to NATS and opens it. Handlers are
 * registered on the result; `service.wait()` then starts consumers and heartbeats.
 */
export async function connectService<M extends AnyContractModule>(
  options: ConnectServiceOptions<M>,
): Promise<TrellisService<M>> {
  const seed = options.sessionKeySeed;
  const sessionKey = sessionKeyFromSeed(seed);
  const contractDigest = options.contract.CONTRACT_DIGEST;
  const logger = resolveLogger(options.logger, { service: options.name });
  const clock = new ServerClock();

  const { ready, reply } = await bootstrap(options, clock, logger);
  const info = ready.connectInfo;
  if (info.sessionKey !== sessionKey || info.contractDigest !== contractDigest) {
    throw new TransportError(
      "trellis.bootstrap.failed",
      `The control plane answered for session ${info.sessionKey} / digest ${info.contractDigest}, ` +
        `not ${sessionKey} / ${contractDigest}`,
    );
  }
  clock.observe(ready.serverNow, reply.sentAt, reply.receivedAt);
  const servers = info.transports.native?.natsServers ?? [];
  if (servers.length === 0) {
    throw new TransportError("trellis.bootstrap.failed", "The control plane offered no native NATS servers");
  }
  const signal = options.bootstrap?.signal;
  if (signal?.aborted) throw aborted(signal);
  const nc = await connectToNats({
    servers,
    sessionKey,
    name: options.name,
    logger,
    credentials: {
      sentinel: info.transport.sentinel,
      token: () => natsConnectToken({ seed, iat: clock.iat(), contractDigest }),
    },
  });
  let authority: ValidateSessionAuthority | undefined;
  try {
    authority = await ValidateSessionAuthority.start({
      nc,
      rpc: new RpcClient({ nc, seed, clock, ...(options.metrics && { metrics: options.metrics }) }),
      logger,
    });
    const authenticator = new ProofCallerAuthenticator({ authority, now: () => clock.nowMs() });
    const { kv, eventConsumers, operations, jobs } = ready.binding.resources;
    const service = await TrellisService.open({
      nc,
      contract: options.contract,
      name: options.name,
      sessionKeySeed: seed,
      clock,
      authenticator,
      bindings: {
        ...(kv && { kv }),
        ...(eventConsumers && { eventConsumers }),
        ...(operations && { operations: { bucket: operations.bucket } }),
        ...(jobs && { jobs }),
      },
      ...(options.logger !== undefined && { logger: options.logger }),
      ...(options.metrics && { metrics: options.metrics }),
      ...(options.heartbeat !== undefined && { heartbeat: options.heartbeat }),
      ...(options.jobs && { jobs: options.jobs }),
      ...(options.maxConcurrent !== undefined && { maxConcurrent: options.maxConcurrent }),
    });
    const opened = authority;
    service.onStop(() => {
      authenticator.close();
      opened.close();
    });
    return service;
  } catch (error) {
    authority?.close();
    await drainOrClose(nc);
    throw error;
  }
}
