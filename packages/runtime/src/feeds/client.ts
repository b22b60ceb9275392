/**
 * The feed client (runtime spec §1.3): subscribe to a fresh inbox of the caller's own prefix, publish
 * the signed input with that inbox as reply subject, wait for the ready frame, then iterate validated
 * events until the service ends the feed, an error frame arrives, or the caller closes it.
 */
import {
  createInbox,
  type Msg,
  type NatsConnection,
  errors as natsErrors,
  type Subscription,
} from "@nats-io/transport-node";
import { context as otelContext, trace } from "@opentelemetry/api";
import {
  BUILTIN_ERROR_TYPES,
  clientInboxPrefix,
  type FeedDescriptor,
  fillSubjectTemplate,
} from "@trellis/contracts";
import { AsyncResult, type BaseError, Result } from "@trellis/result";
import { decodeRemoteError, parseErrorEnvelope } from "../errors/decode.js";
import { TransportError, ValidationError } from "../errors/errors.js";
import { HEADERS, STATUS_ERROR } from "../headers.js";
import type { RequestSigner } from "../rpc/signer.js";
import type { Metrics } from "../telemetry/metrics.js";
import { SpanKind, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import { FEED_STATUS_END, FEED_STATUS_READY } from "./frames.js";

/** Options of {@link subscribeFeed}. */
export interface SubscribeFeedOptions {
  /** The connection; its inbox prefix must be `_INBOX.<sessionKey[0:16]>` of the signer. */
  nc: NatsConnection;
  /** Signs the subscribe request with the caller's session key. */
  signer: RequestSigner;
  /** Logical feed name (for errors, spans and metrics). */
  name: string;
  /** The feed's descriptor. */
  descriptor: FeedDescriptor;
  /** Validators of the descriptor's schemas. */
  schemas: SchemaSet;
  /** Subscribe input, validated against the feed's input schema before anything is sent. */
  input: unknown;
  /** How long to wait for the ready frame, ms (default 3000). */
  timeoutMs?: number;
  /** Aborts the handshake, or ends an open subscription. */
  signal?: AbortSignal;
  /** Most events buffered for a slow consumer before the subscription fails (default 10 000). */
  maxBuffered?: number;
  /** Metrics sink. */
  metrics?: Metrics;
}

/** How a subscription ended. */
export type FeedEndReason =
  /** The service's handler returned (end frame). */
  | "end"
  /** The caller called `close()` or stopped iterating. */
  | "closed"
  /** The caller's signal aborted. */
  | "aborted"
  /** An error frame, an invalid frame, a buffer overflow or a lost connection; see `error`. */
  | "error";

/**
 * A live feed: an async iterable of validated events. Iteration ends when the feed ends for any
 * reason; it never throws. After it ended, `endReason` says why and `error` holds the failure, if any.
 */
export interface FeedSubscription<E> extends AsyncIterable<E> {
  /** The inbox frames arrive on. */
  readonly inbox: string;
  /** The failure that ended the feed (error frame, invalid frame, overflow, connection lost). */
  readonly error: BaseError | undefined;
  /** Why the feed ended; `undefined` while it is open. */
  readonly endReason: FeedEndReason | undefined;
  /** Resolves when the feed has ended, with the failure if there was one. */
  readonly ended: Promise<BaseError | undefined>;
  /** Stops receiving. Only local: the service is not told (see `frames.ts`). Idempotent. */
  close(): void;
}

/** Error types every feed may send (feeds declare no errors of their own); others become `RemoteError`. */
const FEED_DECLARED_ERRORS = {
  declaredErrorTypes: [...BUILTIN_ERROR_TYPES],
  runtimeErrors: {},
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Subscribes to feed `name`; resolves once the service sent its ready frame. */
export function subscribeFeed<E = unknown>(
  options: SubscribeFeedOptions,
): AsyncResult<FeedSubscription<E>, BaseError> {
  return AsyncResult.from(openFeed<E>(options));
}

/** A reusable feed client bound to one connection and signer. */
export class FeedClient {
  constructor(
    private readonly defaults: {
      nc: NatsConnection;
      signer: RequestSigner;
      timeoutMs?: number;
      metrics?: Metrics;
    },
  ) {}

  /** Subscribes to feed `name` described by `descriptor`. */
  subscribe<E = unknown>(
    name: string,
    descriptor: FeedDescriptor,
    schemas: SchemaSet,
    input: unknown,
    options: { timeoutMs?: number; signal?: AbortSignal; maxBuffered?: number } = {},
  ): AsyncResult<FeedSubscription<E>, BaseError> {
    return subscribeFeed<E>({ ...this.defaults, name, descriptor, schemas, input, ...options });
  }
}

async function openFeed<E>(options: SubscribeFeedOptions): Promise<Result<FeedSubscription<E>, BaseError>> {
  const { nc, signer, name, descriptor, schemas, input, signal, metrics } = options;
  const observe = (error: BaseError, phase: string) =>
    metrics?.error({ type: error.name, surface: "feed", direction: "client", operation: name, phase });
  const valid = schemas.validate(descriptor.input.schema, input);
  if (valid.isErr()) {
    observe(valid.error, "request_encoding");
    return Result.err(valid.error);
  }
  let subject: string;
  try {
    subject = fillSubjectTemplate(descriptor.subject, valid.value);
  } catch (cause) {
    const error = new ValidationError([{ path: "", message: String(cause) }]);
    observe(error, "request_encoding");
    return Result.err(error);
  }
  if (signal?.aborted) {
    return Result.err(
      new TransportError("trellis.feed.subscribe_aborted", `Subscribing to '${name}' was aborted`),
    );
  }
  const payload = encoder.encode(JSON.stringify(valid.value));
  const inbox = createInbox(clientInboxPrefix(signer.sessionKey));
  const subscription = new LiveFeed<E>(name, inbox, descriptor, schemas, options.maxBuffered ?? 10_000);
  let sub: Subscription;
  try {
    sub = nc.subscribe(inbox, { callback: (_err, msg) => subscription.receive(msg) });
  } catch (cause) {
    return Result.err(handshakeFailure(name, cause));
  }
  subscription.attach(sub, signal);

  const span = tracer.startSpan(`feed.client.${name}`, { kind: SpanKind.CLIENT });
  span.setAttributes({ "rpc.system": "nats", "feed.name": name, "messaging.destination": subject });
  try {
    nc.publish(subject, payload, {
      reply: inbox,
      headers: signer.headers(subject, payload, trace.setSpan(otelContext.active(), span)),
    });
  } catch (cause) {
    subscription.close();
    span.end();
    return Result.err(handshakeFailure(name, cause));
  }
  const ready = await subscription.handshake(options.timeoutMs ?? 3000);
  span.end();
  if (ready.isErr()) observe(ready.error, "handshake");
  return ready.isErr() ? Result.err(ready.error) : Result.ok(subscription);
}

function handshakeFailure(name: string, cause: unknown): TransportError {
  if (cause instanceof natsErrors.ClosedConnectionError) {
    return new TransportError(
      "trellis.feed.subscribe_closed",
      `The connection is closed; cannot subscribe to '${name}'`,
      {
        cause,
      },
    );
  }
  return new TransportError("trellis.feed.failed", `Subscribing to '${name}' failed: ${String(cause)}`, {
    cause,
  });
}

type Phase = "handshake" | "open" | "done";

/** The state machine behind a {@link FeedSubscription}. */
class LiveFeed<E> implements FeedSubscription<E> {
  error: BaseError | undefined;
  endReason: FeedEndReason | undefined;
  readonly ended: Promise<BaseError | undefined>;
  private phase: Phase = "handshake";
  private sub: Subscription | undefined;
  private readonly buffer: E[] = [];
  private readonly waiters: ((result: IteratorResult<E>) => void)[] = [];
  private settleHandshake: ((result: Result<void, BaseError>) => void) | undefined;
  private handshakeResult: Result<void, BaseError> | undefined;
  private resolveEnded!: (error: BaseError | undefined) => void;
  private signal: AbortSignal | undefined;
  private readonly onAbort = () => {
    if (this.phase === "handshake") {
      this.fail(
        new TransportError("trellis.feed.subscribe_aborted", `Subscribing to '${this.name}' was aborted`),
      );
    } else {
      this.finish("aborted");
    }
  };

  constructor(
    private readonly name: string,
    readonly inbox: string,
    private readonly descriptor: FeedDescriptor,
    private readonly schemas: SchemaSet,
    private readonly maxBuffered: number,
  ) {
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  attach(sub: Subscription, signal: AbortSignal | undefined): void {
    this.sub = sub;
    void sub.closed.then((closedWith) => {
      if (this.phase === "done") return;
      this.fail(
        new TransportError(
          "trellis.feed.subscribe_closed",
          `The subscription to '${this.name}' was closed by the connection`,
          closedWith instanceof Error ? { cause: closedWith } : {},
        ),
      );
    });
    if (signal) {
      this.signal = signal;
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  /** Waits for the ready frame (or a failure) for at most `timeoutMs`. */
  handshake(timeoutMs: number): Promise<Result<void, BaseError>> {
    if (this.handshakeResult) return Promise.resolve(this.handshakeResult);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.fail(
          new TransportError(
            "trellis.feed.subscribe_timeout",
            `No ready frame from '${this.name}' within ${timeoutMs} ms`,
            { context: { timeoutMs } },
          ),
        );
      }, timeoutMs);
      this.settleHandshake = (result) => {
        clearTimeout(timer);
        resolve(result);
      };
    });
  }

  receive(msg: Msg): void {
    if (this.phase === "done") return;
    const h = msg.headers;
    if (h?.get(HEADERS.status) === STATUS_ERROR) {
      this.fail(this.decodeError(msg));
      return;
    }
    if (h?.hasError && h.code === 503) {
      this.fail(
        new TransportError("trellis.feed.failed", `No service is serving feed '${this.name}'`, {
          context: { reason: "no_responders" },
          hint: "Check that the service is running and connected.",
        }),
      );
      return;
    }
    const status = h?.get(HEADERS.feedStatus) || undefined;
    if (this.phase === "handshake") {
      if (status === FEED_STATUS_READY) {
        this.phase = "open";
        this.settle(Result.ok(undefined));
        return;
      }
      this.fail(
        new TransportError("trellis.feed.failed", `Feed '${this.name}' sent a frame before its ready frame`, {
          context: { reason: "protocol", feedStatus: status ?? null },
        }),
      );
      return;
    }
    if (status === FEED_STATUS_END) {
      this.finish("end");
      return;
    }
    if (status !== undefined) return; // Unknown control frames are ignored, for forward compatibility.
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch (cause) {
      this.fail(new ValidationError([{ path: "", message: "the frame is not valid JSON" }], { cause }));
      return;
    }
    const event = this.schemas.validate<E>(this.descriptor.event.schema, body);
    if (event.isErr()) {
      this.fail(event.error);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter({ value: event.value, done: false });
      return;
    }
    if (this.buffer.length >= this.maxBuffered) {
      this.fail(
        new TransportError("trellis.feed.failed", `Feed '${this.name}' overflowed its buffer`, {
          context: { reason: "overflow", maxBuffered: this.maxBuffered },
        }),
      );
      return;
    }
    this.buffer.push(event.value);
  }

  close(): void {
    this.finish("closed");
  }

  [Symbol.asyncIterator](): AsyncIterator<E> {
    return {
      next: () => {
        if (this.buffer.length > 0) {
          return Promise.resolve({ value: this.buffer.shift() as E, done: false });
        }
        if (this.phase === "done") return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private decodeError(msg: Msg): BaseError {
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch (cause) {
      return new TransportError("trellis.feed.failed", `Feed '${this.name}' sent an unreadable error frame`, {
        cause,
        context: { reason: "invalid_response" },
      });
    }
    const envelope = parseErrorEnvelope(body);
    if (!envelope) {
      return new TransportError("trellis.feed.failed", `Feed '${this.name}' sent an invalid error frame`, {
        context: { reason: "invalid_response" },
      });
    }
    return decodeRemoteError(envelope, FEED_DECLARED_ERRORS);
  }

  private settle(result: Result<void, BaseError>): void {
    if (this.handshakeResult) return;
    this.handshakeResult = result;
    this.settleHandshake?.(result);
  }

  private fail(error: BaseError): void {
    if (this.phase === "done") return;
    this.error = error;
    this.finish("error");
  }

  private finish(reason: FeedEndReason): void {
    if (this.phase === "done") return;
    const wasHandshake = this.phase === "handshake";
    this.phase = "done";
    this.endReason = reason;
    this.signal?.removeEventListener("abort", this.onAbort);
    // The caller gave up: what was not consumed yet is dropped. After an end or error, it is still delivered.
    if (reason === "closed" || reason === "aborted") this.buffer.length = 0;
    try {
      if (this.sub && !this.sub.isClosed()) this.sub.unsubscribe();
    } catch {
      // The connection is already gone.
    }
    if (wasHandshake) {
      this.settle(
        Result.err(
          this.error ??
            new TransportError("trellis.feed.subscribe_closed", `Subscribing to '${this.name}' was closed`),
        ),
      );
    }
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
    this.resolveEnded(this.error);
  }
}
