/**
 * The feed server (runtime spec §1.3): a queue-group subscription per feed; each subscribe request is
 * parsed, validated and authenticated like an RPC (with the feed's `subscribeCapabilities` and the
 * reply-prefix check), answered with a ready frame, and then served by a long-running handler that
 * emits validated events to the caller's inbox. See `frames.ts` for the wire forms.
 */
import {
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import type {
  AnyContractModule,
  ContractModule,
  FeedDescriptor,
  FeedEvent,
  FeedInput,
} from "@trellis/contracts";
import { type BaseError, Result, UnexpectedError } from "@trellis/result";
import type { Caller } from "../auth/caller.js";
import { annotateBoundaryError, type ErrorEnvelope, TransportError } from "../errors/errors.js";
import { HEADERS, STATUS_ERROR } from "../headers.js";
import type { CallerAuthenticator } from "../rpc/authenticator.js";
import { authenticateInbound } from "../rpc/server.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { extractTraceContext, failSpan, SpanKind, traceIdOf, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import { FEED_STATUS_END, FEED_STATUS_READY } from "./frames.js";

/** What a feed handler knows about the subscription. */
export interface FeedContext {
  /** The authenticated caller. */
  caller: Caller;
  /** The caller's session key. */
  sessionKey: string;
  /** The subscribe request's id. */
  requestId: string;
  /** The trace id, when traced. */
  traceId?: string;
  /** The subject the subscribe request arrived on. */
  subject: string;
  /** The logical feed name. */
  feed: string;
}

/** Arguments of a feed handler. */
export interface FeedHandlerArgs<TInput, TEvent> {
  /** The validated subscribe input. */
  input: TInput;
  /** Who subscribed. */
  context: FeedContext;
  /** Aborts when the handler has returned or the server stops; long-running handlers should watch it. */
  signal: AbortSignal;
  /**
   * Validates `event` against the feed's event schema and sends it to the subscriber. Refused (nothing
   * is sent) with a `ValidationError` for an invalid event, or a `TransportError` once the feed ended.
   */
  emit(event: TEvent): Result<void, BaseError>;
}

/**
 * A feed handler. Returning (`undefined` or `Result.ok`) ends the feed with an end frame; `Result.err`
 * or a throw ends it with an error frame.
 */
export type FeedHandler<TInput = unknown, TEvent = unknown> = (
  args: FeedHandlerArgs<TInput, TEvent>,
  // biome-ignore lint/suspicious/noConfusingVoidType: an async handler without a return statement yields Promise<void>.
) => void | Result<unknown, BaseError> | Promise<void | Result<unknown, BaseError>>;

/** Options of {@link FeedServer}. */
export interface FeedServerOptions<M extends AnyContractModule = ContractModule> {
  /** The connection. */
  nc: NatsConnection;
  /** The contract whose owned feeds are served. */
  contract: M;
  /** Validators of the contract's schemas. */
  schemas: SchemaSet;
  /** Authenticates subscribers. */
  authenticator: CallerAuthenticator;
  /** Service name: the queue group and the `service` of error contexts. */
  serviceName: string;
  /** Logger. */
  logger: Logger;
  /** Metrics sink. */
  metrics?: Metrics;
  /** How long `stop()` waits for handlers to return after their signal aborted, ms (default 5000). */
  stopTimeoutMs?: number;
}

type OwnedFeedName<M extends AnyContractModule> = keyof M["API"]["owned"]["feeds"] & string;

interface ActiveFeed {
  controller: AbortController;
  done: Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** Serves the owned feeds of one contract. */
export class FeedServer<M extends AnyContractModule = ContractModule> {
  private readonly subscriptions: Subscription[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly mounted = new Set<string>();
  private readonly active = new Set<ActiveFeed>();
  private stopping = false;

  constructor(private readonly options: FeedServerOptions<M>) {}

  /** Number of feeds currently being served. */
  get activeCount(): number {
    return this.active.size;
  }

  /** Starts serving feed `name` with `handler`. Throws for a feed the contract does not own or one already mounted. */
  mount<K extends OwnedFeedName<M>>(name: K, handler: FeedHandler<FeedInput<M, K>, FeedEvent<M, K>>): void {
    const feeds: Record<string, FeedDescriptor> = this.options.contract.API.owned.feeds;
    const descriptor = feeds[name];
    if (!descriptor) {
      throw new Error(`Contract '${this.options.contract.CONTRACT_ID}' does not own a feed named '${name}'`);
    }
    if (this.stopping) throw new Error("The feed server is stopped");
    if (this.mounted.has(name)) throw new Error(`Feed '${name}' already has a handler`);
    this.mounted.add(name);
    const subject = descriptor.subject.replace(/\{[^}]+\}/g, "*");
    this.options.logger.info({ feed: name, subject }, `Mounting ${name} feed handler`);
    const sub = this.options.nc.subscribe(subject, { queue: this.options.serviceName });
    this.subscriptions.push(sub);
    const loop = async () => {
      for await (const msg of sub) {
        if (this.stopping) break;
        this.start(name, descriptor, msg, handler as FeedHandler);
      }
    };
    this.loops.push(loop());
  }

  /**
   * Stops taking new subscriptions, aborts the signal of every running handler and waits (bounded by
   * `stopTimeoutMs`) for them to return; their end frames are still sent. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.subscriptions.map((sub) => sub.drain().catch(() => undefined)));
    await Promise.all(this.loops);
    const running = [...this.active];
    for (const feed of running) feed.controller.abort(new Error("The feed server is stopping"));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.stopTimeoutMs ?? 5000);
    });
    await Promise.race([Promise.all(running.map((feed) => feed.done)), timeout]);
    clearTimeout(timer);
  }

  /** Starts serving one subscribe request, tracked until its pipeline settles so `stop()` can abort it. */
  private start(name: string, descriptor: FeedDescriptor, msg: Msg, handler: FeedHandler): void {
    const controller = new AbortController();
    const done = this.run(name, descriptor, msg, handler, controller).catch((cause) => {
      this.options.logger.error({ err: cause, feed: name }, "Feed pipeline failed unexpectedly");
    });
    const feed: ActiveFeed = { controller, done };
    this.active.add(feed);
    void done.finally(() => this.active.delete(feed));
  }

  private async run(
    name: string,
    descriptor: FeedDescriptor,
    msg: Msg,
    handler: FeedHandler,
    controller: AbortController,
  ): Promise<void> {
    const { schemas, authenticator, logger, metrics } = this.options;
    const reply = msg.reply;
    if (!reply) {
      logger.warn({ feed: name, subject: msg.subject }, "Feed subscribe request without a reply subject");
      return;
    }
    const parent = extractTraceContext(msg.headers);
    const span = tracer.startSpan(`feed.server.${name}`, { kind: SpanKind.SERVER }, parent);
    span.setAttributes({ "rpc.system": "nats", "feed.name": name, "messaging.destination": msg.subject });
    const traceId = traceIdOf(span, msg.headers);
    const requestId = msg.headers?.get(HEADERS.requestId) || undefined;
    const fail = (error: BaseError, phase: string, authReason?: string) => {
      failSpan(span, error);
      metrics?.error({
        type: error.name,
        surface: "feed",
        direction: "server",
        operation: name,
        phase,
        ...(authReason && { authReason }),
      });
      this.sendError(reply, this.annotate(error, name, requestId, traceId));
    };
    try {
      let body: unknown;
      try {
        body = JSON.parse(decoder.decode(msg.data));
      } catch (cause) {
        fail(new UnexpectedError("The subscribe request body is not valid JSON", { cause }), "parse");
        return;
      }
      const parsed = schemas.validate(descriptor.input.schema, body);
      if (parsed.isErr()) {
        fail(parsed.error, "input_validation");
        return;
      }
      const auth = await authenticateInbound(msg, descriptor.subscribeCapabilities, authenticator);
      if (auth.isErr()) {
        fail(auth.error, "auth", auth.error.reason);
        return;
      }
      span.setAttribute("auth.caller.type", auth.value.caller.type);
      const context: FeedContext = {
        caller: auth.value.caller,
        sessionKey: auth.value.sessionKey,
        requestId: auth.value.requestId,
        subject: msg.subject,
        feed: name,
        ...(traceId && { traceId }),
      };
      if (controller.signal.aborted) {
        fail(
          new TransportError(
            "trellis.feed.failed",
            `The service is stopping; feed '${name}' was not started`,
            {
              context: { reason: "stopping" },
            },
          ),
          "handler_start",
        );
        return;
      }
      if (!this.publish(reply, EMPTY, frameHeaders(HEADERS.feedStatus, FEED_STATUS_READY))) return;

      let open = true;
      const emit = (event: unknown): Result<void, BaseError> => {
        if (!open || controller.signal.aborted) {
          return Result.err(
            new TransportError("trellis.feed.failed", `Feed '${name}' has ended; the event was not sent`, {
              context: { reason: "closed" },
            }),
          );
        }
        const valid = schemas.validate(descriptor.event.schema, event);
        if (valid.isErr()) {
          logger.warn({ feed: name, issues: valid.error.issues }, "Feed event failed its schema");
          return Result.err(valid.error);
        }
        let payload: Uint8Array;
        try {
          payload = encoder.encode(JSON.stringify(valid.value));
        } catch (cause) {
          return Result.err(new UnexpectedError("The feed event cannot be serialized", { cause }));
        }
        if (!this.publish(reply, payload)) {
          return Result.err(
            new TransportError("trellis.feed.failed", `Feed '${name}' event could not be sent`, {
              context: { reason: "publish_failed" },
            }),
          );
        }
        return Result.ok(undefined);
      };

      let outcome: Result<unknown, BaseError>;
      try {
        const returned = await handler({ input: parsed.value, context, signal: controller.signal, emit });
        outcome = isResult(returned) ? returned : Result.ok(undefined);
      } catch (cause) {
        logger.error({ err: cause, feed: name }, "Feed handler threw unexpectedly.");
        outcome = Result.err(new UnexpectedError("Handler threw", { cause }));
      }
      open = false;
      if (outcome.isErr()) {
        logger.warn({ err: outcome.error, feed: name }, "Feed handler returned error.");
        fail(outcome.error, outcome.error instanceof UnexpectedError ? "handler_throw" : "handler_result");
      } else {
        this.publish(reply, EMPTY, frameHeaders(HEADERS.feedStatus, FEED_STATUS_END));
      }
    } finally {
      controller.abort(new Error("The feed has ended"));
      span.end();
    }
  }

  /** Adds the boundary context (§0.1) to an error's envelope. */
  private annotate(
    error: BaseError,
    feed: string,
    requestId: string | undefined,
    traceId: string | undefined,
  ): ErrorEnvelope {
    return annotateBoundaryError(error, {
      surface: "feed",
      name: feed,
      requestId,
      traceId,
      service: this.options.serviceName,
      contract: this.options.contract,
    });
  }

  private sendError(reply: string, envelope: ErrorEnvelope): void {
    let body: string;
    try {
      body = JSON.stringify(envelope);
    } catch {
      body = JSON.stringify({ type: "UnexpectedError", message: "Failed to serialize error" });
    }
    this.publish(reply, encoder.encode(body), frameHeaders(HEADERS.status, STATUS_ERROR));
  }

  /** Publishes one frame; `false` when the connection refused it. */
  private publish(subject: string, payload: Uint8Array, headers?: MsgHdrs): boolean {
    try {
      this.options.nc.publish(subject, payload, headers ? { headers } : undefined);
      return true;
    } catch (cause) {
      this.options.logger.warn({ err: cause, subject }, "Failed to send a feed frame");
      return false;
    }
  }
}

function frameHeaders(name: string, value: string): MsgHdrs {
  const h = natsHeaders();
  h.set(name, value);
  return h;
}

function isResult(value: unknown): value is Result<unknown, BaseError> {
  return typeof value === "object" && value !== null && "isErr" in value && "isOk" in value;
}
