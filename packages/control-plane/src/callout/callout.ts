/**
 * The NATS auth callout (auth spec §3.2–3.3): every client connects as the sentinel user; the server
 * asks us, over `$SYS.REQ.USER.AUTH` with xkey-sealed JWTs, whether to admit it. We verify the runtime
 * token, resolve the principal behind the session key, and answer with a user JWT carrying exactly
 * the publish/subscribe permissions of that principal — or an error code. Never a partial JWT.
 */
import { type AuthorizationRequest, decode, encodeAuthorizationResponse, encodeUser } from "@nats-io/jwt";
import { fromCurveSeed, fromSeed } from "@nats-io/nkeys";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { clientInboxSubscription } from "@trellis/contracts";
import type { Result } from "@trellis/result";
import type { Logger } from "@trellis/runtime";
import { CalloutLimiter, type CalloutLimits, DEFAULT_CALLOUT_LIMITS } from "./limiter.js";
import { CachedNodeKeyPair } from "./node-signing-key.js";
import { type CalloutDenial, type RuntimeToken, verifyRuntimeToken } from "./token.js";

/** The subject the server sends authorization requests to. */
export const CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH";

/** An admitted participant and what it may do on NATS. */
export interface Principal {
  /** `user`, `service` or `device`. */
  kind: "user" | "service" | "device";
  /** Id the connection is tracked under: user id, service trellis id or device instance id. */
  scopeId: string;
  /** JWT `name`: the principal's email (services `<deployment>@trellis.internal`, devices `device:<id>`). */
  name: string;
  /** Subjects it may publish to. */
  publish: string[];
  /** Subjects it may subscribe to (the inbox is added by the callout). */
  subscribe: string[];
  /** Most replies per request it may send (65535 for services, 1 otherwise). */
  respMax: number;
}

/** Finds the principal behind a verified runtime token, or the denial code. */
export interface PrincipalResolver {
  /** Resolves a session key presented with a contract digest. */
  resolve(token: RuntimeToken): Promise<Result<Principal, CalloutDenial>>;
}

/** What the callout learned about an admitted connection. */
export interface AdmittedConnection {
  /** The principal. */
  principal: Principal;
  /** The verified token. */
  token: RuntimeToken;
  /** The server-generated user nkey the JWT is bound to. */
  userNkey: string;
  /** The server's id (for kicks). */
  serverId: string;
  /** The client's connection id on that server (for kicks). */
  clientId: number;
}

/** One callout decision. */
export interface CalloutDecision {
  /** `admitted`, or the denial code. */
  outcome: string;
  /** The session key, when the token was readable. */
  sessionKey?: string;
  /** When it was decided. */
  at: Date;
}

/** Keys the callout signs and seals with. */
export interface CalloutKeys {
  /** AUTH account public key (`A…`): the issuer of authorization responses. */
  issuerAccount: string;
  /** Seed of an AUTH signing key (`SA…`). */
  issuerSigningSeed: string;
  /** TRELLIS account public key: the account users land in. */
  targetAccount: string;
  /** Seed of a TRELLIS signing key: signs user JWTs. */
  targetSigningSeed: string;
  /** The callout's curve seed (`SX…`). */
  xkeySeed: string;
}

/** Options of {@link AuthCallout}. */
export interface AuthCalloutOptions {
  /** Connection as `AUTH/auth`. */
  nc: NatsConnection;
  /** Signing and sealing keys. */
  keys: CalloutKeys;
  /** Resolves principals. */
  resolver: PrincipalResolver;
  /** Lifetime of issued user JWTs, ms (default 1 h). */
  jwtTtlMs?: number;
  /** Called after a connection is admitted (connection tracking, events). Errors are logged. */
  onAdmitted?: (connection: AdmittedConnection) => Promise<void>;
  /** Told about every decision: `admitted` or the denial code (metrics, diagnostics). */
  onDecision?: (decision: CalloutDecision) => void;
  /** Limits. */
  limits?: CalloutLimits;
  /** Server clock, ms. */
  now?: () => number;
  /** Logger. */
  logger: Logger;
}

/** The session key a request's token claims, if it is readable at all (for diagnostics only). */
function sessionKeyOf(request: AuthorizationRequest): { sessionKey?: string } {
  try {
    const claimed: unknown = JSON.parse(request.connect_opts.auth_token ?? "");
    if (
      claimed &&
      typeof claimed === "object" &&
      "sessionKey" in claimed &&
      typeof claimed.sessionKey === "string"
    ) {
      return { sessionKey: claimed.sessionKey };
    }
  } catch {
    // Not JSON: nothing to report.
  }
  return {};
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The auth callout service. */
export class AuthCallout {
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private readonly limiter: CalloutLimiter;
  private readonly xkey;
  private readonly issuerSigning;
  private readonly targetSigning;
  private readonly now: () => number;

  constructor(private readonly options: AuthCalloutOptions) {
    this.limiter = new CalloutLimiter(options.limits ?? DEFAULT_CALLOUT_LIMITS);
    this.xkey = fromCurveSeed(encoder.encode(options.keys.xkeySeed));
    this.issuerSigning = new CachedNodeKeyPair(fromSeed(encoder.encode(options.keys.issuerSigningSeed)));
    this.targetSigning = new CachedNodeKeyPair(fromSeed(encoder.encode(options.keys.targetSigningSeed)));
    this.now = options.now ?? Date.now;
  }

  /** Starts answering authorization requests (queue group `trellis`, so replicas share them). */
  start(): void {
    const sub = this.options.nc.subscribe(CALLOUT_SUBJECT, { queue: "trellis" });
    this.subscription = sub;
    this.loop = (async () => {
      for await (const msg of sub) void this.handle(msg);
    })();
  }

  /** Stops answering. */
  async stop(): Promise<void> {
    await this.subscription?.drain().catch(() => undefined);
    await this.loop;
  }

  private async handle(msg: Msg): Promise<void> {
    const serverXkey = msg.headers?.get("Nats-Server-Xkey");
    let request: AuthorizationRequest;
    try {
      if (!serverXkey) throw new Error("plaintext authorization requests are not supported");
      const opened = this.xkey.open(msg.data, serverXkey);
      if (!opened) throw new Error("the authorization request could not be opened with our xkey");
      request = decode<AuthorizationRequest>(decoder.decode(opened)).nats as AuthorizationRequest;
      if (!request.user_nkey || !request.server_id?.id)
        throw new Error("the authorization request lacks user_nkey or server_id");
    } catch (cause) {
      // Without the user nkey and server id no response can be addressed: answer empty.
      this.options.logger.warn({ err: cause }, "Auth callout request could not be decoded");
      msg.respond(new Uint8Array());
      return;
    }
    if (request.server_id.xkey && request.server_id.xkey !== serverXkey) {
      await this.respond(msg, request, serverXkey, { error: "invalid_request" });
      return;
    }
    const client = request.client_info.host ?? "unknown";
    const answered = await this.limiter.run(client, request.server_id.id, async () => {
      const outcome = await this.authorize(request);
      await this.respond(msg, request, serverXkey, outcome);
    });
    if (!answered) {
      this.options.onDecision?.({ outcome: "rate_limited", ...sessionKeyOf(request), at: new Date() });
      await this.respond(msg, request, serverXkey, { error: "rate_limited" });
    }
  }

  private async authorize(request: AuthorizationRequest): Promise<{ jwt: string } | { error: string }> {
    try {
      const token = verifyRuntimeToken(request.connect_opts.auth_token, this.now() / 1000);
      if (token.isErr()) return this.deny(token.error, request);
      const principal = await this.options.resolver.resolve(token.value);
      if (principal.isErr()) return this.deny(principal.error, request);
      const jwt = await this.userJwt(request.user_nkey, token.value, principal.value);
      const admitted: AdmittedConnection = {
        principal: principal.value,
        token: token.value,
        userNkey: request.user_nkey,
        serverId: request.server_id.id,
        clientId: request.client_info.id ?? 0,
      };
      await this.options
        .onAdmitted?.(admitted)
        .catch((cause: unknown) =>
          this.options.logger.error({ err: cause }, "Failed to record an admitted connection"),
        );
      this.options.logger.info(
        { kind: principal.value.kind, scopeId: principal.value.scopeId, sessionKey: token.value.sessionKey },
        "Connection admitted",
      );
      this.options.onDecision?.({ outcome: "admitted", sessionKey: token.value.sessionKey, at: new Date() });
      return { jwt };
    } catch (cause) {
      this.options.logger.error({ err: cause }, "Auth callout failed unexpectedly");
      this.options.onDecision?.({ outcome: "internal_error", at: new Date() });
      return { error: "internal_error" };
    }
  }

  private deny(denial: CalloutDenial, request: AuthorizationRequest): { error: string } {
    this.options.onDecision?.({ outcome: denial.code, ...sessionKeyOf(request), at: new Date() });
    this.options.logger.info(
      { code: denial.code, detail: denial.message, client: request.client_info.host },
      "Connection denied",
    );
    return { error: denial.code };
  }

  /** The user JWT: bound to the server-generated nkey, issued into TRELLIS, short-lived. */
  private userJwt(userNkey: string, token: RuntimeToken, principal: Principal): Promise<string> {
    const subscribe = [...new Set([...principal.subscribe, clientInboxSubscription(token.sessionKey)])];
    const publish = [...new Set(principal.publish)];
    const expSeconds = Math.floor((this.now() + (this.options.jwtTtlMs ?? 3_600_000)) / 1000);
    // Signed by a TRELLIS signing key; with `signer`, the library sets `issuer_account` to TRELLIS.
    return encodeUser(
      principal.name,
      userNkey,
      this.options.keys.targetAccount,
      {
        pub: { allow: publish },
        sub: { allow: subscribe },
        resp: { max: principal.respMax, ttl: 0 },
        subs: 1500,
        data: 100_000_000,
        payload: -1,
      },
      { aud: "trellis", exp: expSeconds, signer: this.targetSigning },
    );
  }

  private async respond(
    msg: Msg,
    request: AuthorizationRequest,
    serverXkey: string,
    outcome: { jwt: string } | { error: string },
  ): Promise<void> {
    try {
      const response = await encodeAuthorizationResponse(
        request.user_nkey,
        request.server_id.id,
        this.options.keys.issuerAccount,
        outcome,
        { signer: this.issuerSigning },
      );
      msg.respond(this.xkey.seal(encoder.encode(response), serverXkey));
    } catch (cause) {
      this.options.logger.error({ err: cause }, "Auth callout could not answer");
    }
  }
}
