/**
 * `POST /bootstrap/service` (auth spec §5.1; design/authority.md "Bootstrap"): a provisioned service
 * instance presents its contract, proven with its session key's `nats-connect` signature, and gets
 * either its connect info and resource bindings (200 `ready`) or the reason it has to wait (202 with
 * `Retry-After`) or stop (400/403/404/409). Decision order: body, iat, signature → instance →
 * disabled → manifest → catalog → dependencies → plan (auto-accepted in `mutable-dev`) → offer →
 * reconciliation → ready.
 */
import { type ContractManifest, digestContractManifest, validateContractManifest } from "@trellis/contracts";
import { natsConnectValue, verifyDomainSignature } from "@trellis/runtime/auth";
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { Assessment } from "../authority/planning.js";
import type { MaterializedAuthorityView, ResourceBindings } from "../authority/reconciler.js";
import type { ControlPlaneContext, SentinelCredentials } from "../context.js";
import { checkIatFreshness, IAT_SKEW_SECONDS, serverNowSeconds } from "../flows/freshness.js";
import { type ClientTransports, clientTransports } from "../flows/login.js";
import { parseWith } from "./body.js";
import type { HttpEnv } from "./env.js";
import { errorBody } from "./errors.js";

/** Body of `POST /bootstrap/service`. */
export const BootstrapServiceBodySchema = z.object({
  sessionKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a public session key"),
  contractId: z.string().min(1),
  contractDigest: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be a base64url digest"),
  /** The manifest; required the first time a digest is presented. */
  contract: z.record(z.string(), z.unknown()).optional(),
  /** Unix seconds. */
  iat: z.int(),
  /** `nats-connect` signature over `iat:contractDigest`. */
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "must be an Ed25519 signature"),
});

/** Input of {@link bootstrapService}. */
export type BootstrapServiceInput = z.output<typeof BootstrapServiceBodySchema>;

/** The 200 answer: everything the service needs to connect and bind its resources. */
export interface ServiceReady {
  status: "ready";
  serverNow: number;
  connectInfo: {
    sessionKey: string;
    contractId: string;
    contractDigest: string;
    transports: ClientTransports;
    transport: { sentinel: SentinelCredentials };
    auth: { mode: "service_identity"; iatSkewSeconds: number };
  };
  contract: {
    id: string;
    digest: string;
    displayName: string;
    description: string;
    jobs?: ContractManifest["jobs"];
    resources?: ContractManifest["resources"];
  };
  binding: { contractId: string; digest: string; resources: ResourceBindings };
}

/** What {@link bootstrapService} answers: an HTTP status, a JSON body and, for 202, `Retry-After`. */
export interface BootstrapOutcome {
  status: ContentfulStatusCode;
  body: ServiceReady | ({ reason: string; message: string } & Record<string, unknown>);
  /** Seconds to wait before asking again (202 only). */
  retryAfter?: number;
}

/** How long a service waits before asking again while an admin has to decide. */
const DECISION_RETRY_SECONDS = 10;
/** How long it waits while reconciliation or dependencies settle. */
const SETTLE_RETRY_SECONDS = 2;

function refused(
  status: ContentfulStatusCode,
  reason: string,
  message: string,
  extra: Record<string, unknown> = {},
) {
  return { status, body: { reason, message, ...extra } };
}

function waiting(reason: string, message: string, retryAfter: number, extra: Record<string, unknown> = {}) {
  return { status: 202 as const, body: { reason, message, ...extra }, retryAfter };
}

/** The presented manifest (or the stored one), or the 409 refusal. */
function presentedManifest(
  ctx: ControlPlaneContext,
  input: BootstrapServiceInput,
): { manifest: ContractManifest } | BootstrapOutcome {
  let manifest: ContractManifest;
  if (input.contract !== undefined) {
    const validated = validateContractManifest(input.contract);
    if (!validated.ok) {
      const problems = validated.error.problems.map((p) => `${p.path || "/"}: ${p.message}`);
      return refused(409, "presented_contract_invalid", `Contract is invalid: ${problems.join("; ")}`, {
        problems,
      });
    }
    manifest = validated.value;
    const digest = digestContractManifest(manifest);
    if (digest !== input.contractDigest) {
      return refused(
        409,
        "presented_contract_digest_mismatch",
        `Contract digests to '${digest}', not the presented '${input.contractDigest}'`,
        { digest, contractDigest: input.contractDigest },
      );
    }
  } else {
    const stored = ctx.store.contracts.get(input.contractDigest);
    if (stored === undefined) {
      return refused(
        409,
        "manifest_required",
        `Contract digest '${input.contractDigest}' is unknown; retry with the manifest in 'contract'`,
      );
    }
    manifest = stored.manifest;
  }
  if (manifest.id !== input.contractId) {
    return refused(
      409,
      "presented_contract_invalid",
      `Contract id '${manifest.id}' does not match the presented contractId '${input.contractId}'`,
    );
  }
  if (manifest.kind !== "service") {
    return refused(
      409,
      "presented_contract_invalid",
      `service contract install requires kind 'service', got '${manifest.kind}'`,
    );
  }
  return { manifest };
}

function isCurrent(
  materialized: MaterializedAuthorityView | undefined,
  version: string | undefined,
): boolean {
  return materialized?.status === "current" && materialized.desiredVersion === version;
}

/** Runs the bootstrap decision for one request. */
export async function bootstrapService(
  ctx: ControlPlaneContext,
  input: BootstrapServiceInput,
): Promise<BootstrapOutcome> {
  const now = ctx.now();
  const serverNow = serverNowSeconds(now);
  const fresh = checkIatFreshness(input.iat, now);
  if (!fresh.ok) return refused(400, "iat_out_of_range", fresh.error.message, { serverNow });
  if (
    !verifyDomainSignature(
      input.sessionKey,
      "nats-connect",
      natsConnectValue(input.iat, input.contractDigest),
      input.sig,
    )
  ) {
    return refused(400, "invalid_signature", "Invalid signature");
  }

  const { store, deploymentAuthority } = ctx;
  const instance = store.serviceInstances.getByKey(input.sessionKey);
  if (instance === undefined) {
    return refused(404, "unknown_service", "No service instance is provisioned for this session key");
  }
  if (instance.disabled)
    return refused(403, "service_disabled", `Service instance '${instance.instanceId}' is disabled`);
  const deployment = store.serviceDeployments.get(instance.deploymentId);
  if (deployment === undefined || deployment.disabled) {
    return refused(403, "service_deployment_disabled", `Deployment '${instance.deploymentId}' is disabled`, {
      deploymentId: instance.deploymentId,
    });
  }
  const { deploymentId } = deployment;

  const presented = presentedManifest(ctx, input);
  if ("status" in presented) return presented;
  const stored = store.contracts.put(presented.manifest, now);
  const assessed = deploymentAuthority.assess(deploymentId, stored.manifest, stored.digest);
  if (!assessed.ok) {
    return refused(409, assessed.error.reason, assessed.error.message, assessed.error.context ?? {});
  }
  const assessment: Assessment = assessed.value;
  const blocking = assessment.useIssues.filter((issue) => issue.required);
  if (blocking.length > 0) {
    return waiting(
      "contract_activation_pending",
      blocking.map((issue) => issue.message).join("; "),
      SETTLE_RETRY_SECONDS,
      {
        dependencies: blocking.map((issue) => ({
          alias: issue.alias,
          contractId: issue.contractId,
          reason: issue.reason,
          ...(issue.surface !== undefined && { surface: issue.surface }),
        })),
      },
    );
  }

  if (assessment.kind === "plan") {
    const plan = deploymentAuthority.recordPlan(assessment);
    if (deployment.contractCompatibilityMode !== "mutable-dev") {
      const migration = plan.classification === "migration";
      return waiting(
        migration ? "authority_migration_required" : "authority_update_required",
        migration
          ? `Contract '${stored.contractId}' changes incompatibly; an admin must accept migration plan '${plan.planId}'`
          : `Contract '${stored.contractId}' needs more authority; an admin must accept update plan '${plan.planId}'`,
        DECISION_RETRY_SECONDS,
        { planId: plan.planId, classification: plan.classification, desiredChange: plan.desiredChange },
      );
    }
    const accepted = await deploymentAuthority.accept(
      plan.planId,
      { kind: "system", mode: "mutable-dev", serviceInstanceId: instance.instanceId },
      { as: plan.classification },
    );
    if (!accepted.ok)
      return refused(409, accepted.error.reason, accepted.error.message, accepted.error.context ?? {});
  } else if (assessment.kind === "compatible") {
    await deploymentAuthority.activateCompatible(deploymentId, stored.contractId, stored.digest);
  }

  store.offers.upsertAccepted(
    {
      deploymentId,
      instanceId: instance.instanceId,
      contractId: stored.contractId,
      contractDigest: stored.digest,
    },
    ctx.now(),
  );

  let version = store.authorities.get(deploymentId)?.version;
  let materialized = store.materialized.get(deploymentId);
  if (!isCurrent(materialized, version)) {
    const reconciled = await deploymentAuthority.reconcileNow(deploymentId);
    if (reconciled.ok) {
      version = reconciled.value.authority.version;
      materialized = reconciled.value.materialized;
    }
  }
  if (materialized?.status === "failed" && materialized.desiredVersion === version) {
    return waiting(
      "authority_reconciliation_failed",
      `Deployment '${deploymentId}' could not be reconciled: ${materialized.error ?? "unknown error"}`,
      SETTLE_RETRY_SECONDS,
      { error: materialized.error ?? null },
    );
  }
  if (materialized === undefined || !isCurrent(materialized, version)) {
    return waiting(
      "authority_reconciliation_pending",
      `Deployment '${deploymentId}' is being reconciled`,
      SETTLE_RETRY_SECONDS,
    );
  }

  const manifest = stored.manifest;
  return {
    status: 200,
    body: {
      status: "ready",
      serverNow,
      connectInfo: {
        sessionKey: input.sessionKey,
        contractId: stored.contractId,
        contractDigest: stored.digest,
        transports: clientTransports(ctx),
        transport: { sentinel: ctx.sentinel },
        auth: { mode: "service_identity", iatSkewSeconds: IAT_SKEW_SECONDS },
      },
      contract: {
        id: stored.contractId,
        digest: stored.digest,
        displayName: stored.displayName,
        description: stored.description,
        ...(manifest.jobs !== undefined && { jobs: manifest.jobs }),
        ...(manifest.resources !== undefined && { resources: manifest.resources }),
      },
      binding: {
        contractId: stored.contractId,
        digest: stored.digest,
        resources: materialized.resourceBindings,
      },
    },
  };
}

function send(c: Context<HttpEnv>, outcome: BootstrapOutcome): Response {
  if (outcome.retryAfter !== undefined) c.header("Retry-After", String(outcome.retryAfter));
  return c.json(outcome.body, outcome.status);
}

/** The `POST /bootstrap/service` route. */
export function bootstrapRoutes(ctx: ControlPlaneContext): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  app.post("/bootstrap/service", async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return c.json({ reason: "invalid_request", message: "The request body must be a JSON document" }, 400);
    }
    const body = parseWith(BootstrapServiceBodySchema, raw);
    if (!body.ok) return c.json(errorBody(body.error), 400);
    return send(c, await bootstrapService(ctx, body.value));
  });
  return app;
}
