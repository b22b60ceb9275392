/**
 * The session authority of a service connected through the control plane (runtime spec §1.2 step 4,
 * auth spec §5.2): a session the authenticator has not cached is checked by forwarding the request's
 * proof to `rpc.v1.Auth.Requests.Validate`. Revocations and closed connections
 * (`events.v1.Auth.Sessions.Revoked`, `events.v1.Auth.Connections.Closed`) drop a session from every
 * cache at once.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { trellisAuth } from "@trellis/builtin-contracts";
import type { RpcDescriptor } from "@trellis/contracts";
import type { BaseError } from "@trellis/result";
import { z } from "zod";
import type {
  Caller,
  SessionAuthority,
  SessionAuthorityRecord,
  SessionLookup,
  SessionLookupRequest,
} from "../auth/caller.js";
import { AuthError, TransportError } from "../errors/errors.js";
import type { Logger } from "../telemetry/logger.js";
import { SchemaSet } from "../validation/schemas.js";
import type { RpcClient } from "./client.js";

/** Events whose `sessionKey` must be dropped from session caches. */
export const SESSION_INVALIDATION_SUBJECTS = [
  "events.v1.Auth.Sessions.Revoked",
  "events.v1.Auth.Connections.Closed",
] as const;

/** Options of {@link ValidateSessionAuthority.start}. */
export interface ValidateSessionAuthorityOptions {
  /** The service's connection (for the invalidation events). */
  nc: NatsConnection;
  /** Signs and sends `Auth.Requests.Validate` as the service. */
  rpc: RpcClient;
  /** Reply timeout of one Validate call, ms (default 2000). */
  timeoutMs?: number;
  /** Logs outages of the control plane and malformed invalidation events. */
  logger: Logger;
}

const VALIDATE = "Auth.Requests.Validate";

const invalidationSchema = z.looseObject({ sessionKey: z.string().min(1) });

/** The part of a Validate reply this authority relies on (the manifest's schema validated the rest). */
const validateOutputSchema = z.object({
  allowed: z.boolean(),
  inboxPrefix: z.string().min(1),
  caller: z.looseObject({ type: z.string(), active: z.boolean(), capabilities: z.array(z.string()) }),
});

/** The authenticator's {@link Caller} from a Validate caller: `id` is the user, device or service id. */
function callerOf(validated: z.infer<typeof validateOutputSchema>["caller"]): Caller {
  const ids = validated as { id?: unknown; userId?: unknown; deviceId?: unknown };
  const id = [ids.id, ids.userId, ids.deviceId].find((value) => typeof value === "string");
  return { ...validated, id: typeof id === "string" ? id : "" };
}

/** A session authority that asks the control plane (`Auth.Requests.Validate`) about each uncached session. */
export class ValidateSessionAuthority implements SessionAuthority {
  private readonly descriptor: RpcDescriptor;
  private readonly schemas = SchemaSet.of(trellisAuth.CONTRACT);
  private readonly listeners = new Set<(sessionKey: string) => void>();
  private readonly subscriptions: Subscription[] = [];
  private readonly timeoutMs: number;
  private reachable = true;

  private constructor(private readonly options: ValidateSessionAuthorityOptions) {
    this.descriptor = trellisAuth.API.owned.rpc[VALIDATE];
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Subscribes to the invalidation events (confirmed by the server) and returns the authority. */
  static async start(options: ValidateSessionAuthorityOptions): Promise<ValidateSessionAuthority> {
    const authority = new ValidateSessionAuthority(options);
    for (const subject of SESSION_INVALIDATION_SUBJECTS) {
      authority.subscriptions.push(
        options.nc.subscribe(subject, {
          callback: (error, msg) => {
            if (!error) authority.heard(msg.data);
          },
        }),
      );
    }
    await options.nc.flush();
    return authority;
  }

  private heard(data: Uint8Array): void {
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(data));
    } catch {
      body = undefined;
    }
    const parsed = invalidationSchema.safeParse(body);
    if (!parsed.success) {
      this.options.logger.warn("Ignoring a session invalidation event without a sessionKey");
      return;
    }
    for (const listener of this.listeners) listener(parsed.data.sessionKey);
  }

  async lookup(sessionKey: string, request?: SessionLookupRequest): Promise<SessionLookup> {
    if (!request) {
      return {
        error: new AuthError("invalid_request", "Auth.Requests.Validate needs the request's proof headers"),
      };
    }
    const reply = await this.options.rpc.request<unknown>(
      VALIDATE,
      this.descriptor,
      this.schemas,
      {
        sessionKey,
        proof: request.proof,
        subject: request.subject,
        payloadHash: request.payloadHash,
        iat: request.iat,
        requestId: request.requestId,
        capabilities: [...request.requiredCapabilities],
      },
      { timeoutMs: this.timeoutMs },
    );
    if (reply.isErr()) return this.failed(reply.error);
    const output = validateOutputSchema.safeParse(reply.value);
    if (!output.success) {
      return this.failed(
        new TransportError(
          "trellis.request.invalid_response",
          `Unexpected Validate reply: ${output.error.message}`,
        ),
      );
    }
    this.markReachable();
    const { allowed, inboxPrefix, caller } = output.data;
    if (!allowed) {
      return {
        error: new AuthError(
          "insufficient_permissions",
          `The session may not call '${request.subject}'` +
            (request.requiredCapabilities.length > 0
              ? ` with capabilities ${request.requiredCapabilities.join(", ")}`
              : ""),
          {
            context: {
              requiredCapabilities: request.requiredCapabilities,
              userCapabilities: caller.capabilities,
            },
          },
        ),
      };
    }
    const record: SessionAuthorityRecord = { caller: callerOf(caller), inboxPrefix, subjectBound: true };
    return record;
  }

  /** Maps a failed Validate call: refusals pass through, anything else means the control plane is unavailable. */
  private failed(error: BaseError): SessionLookup {
    if (error instanceof AuthError) {
      this.markReachable();
      if (error.reason === "session_not_found") return undefined;
      // A fresh error: the remote one carries the control plane's request context.
      return { error: new AuthError(error.reason, error.message) };
    }
    if (this.reachable) {
      this.reachable = false;
      this.options.logger.warn({ err: error }, "Auth.Requests.Validate failed; serving cached sessions only");
    }
    return {
      unavailable: true,
      error: new AuthError(
        "auth_unavailable",
        `The control plane could not validate the session (${error.message}); retry shortly`,
      ),
    };
  }

  private markReachable(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.options.logger.info("Auth.Requests.Validate answers again");
  }

  onInvalidate(listener: (sessionKey: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops listening to invalidation events. Idempotent. */
  close(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    this.listeners.clear();
  }
}
