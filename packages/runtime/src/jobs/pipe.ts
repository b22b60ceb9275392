/**
 * Pipelined JetStream requests for the jobs hot path: publishes (answered by a `PubAck`) and direct
 * gets by subject (`$JS.API.DIRECT.GET.<stream>.<subject>`, answered by the message or a status),
 * sent with `nc.publish` and a reply subject under one inbox subscription of this pipe.
 *
 * It speaks the same protocol as `js.publish` / `jsm.direct.getMessage`, without nats.js's per-request
 * bookkeeping: each `nc.request()` arms its own timer and, once answered, builds a
 * `RequestError("cancelled")` (with a stack trace) for its already settled promise — about a tenth of a
 * jobs worker's CPU (see design/benchmarks.md, "Jobs"). Here a request is an entry in a map, and one
 * sweep timer, running only while requests are pending, fails the ones past their deadline.
 *
 * Sends are batched per event-loop turn ({@link JetStreamPipe.defer}): requests, and the acks the
 * worker hands in, go out together from one `setImmediate`, so nats.js writes them to the socket at
 * once. nats.js flushes at the end of the microtask in which its outbound buffer was first filled, and a
 * worker's jobs progress through many microtasks, so without this a busy worker makes a socket write
 * for almost every message.
 *
 * The inbox is `<inboxPrefix>.<nuid>.*` under the connection's own inbox prefix, which the service's
 * grants already allow. A subscription error (a permissions violation) fails every pending request and
 * the next request subscribes again.
 */
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";

/** Why a pipelined request failed. */
export class PipeRequestError extends Error {
  constructor(
    message: string,
    /** `timeout`, `no_responders` (no stream took the publish), `api` (a JetStream API error), `subscription`. */
    readonly kind: "timeout" | "no_responders" | "api" | "subscription",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "PipeRequestError";
  }
}

/** What JetStream answered a publish with. */
export interface PipeAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** A message read with a direct get. */
export interface PipeStoredMsg {
  seq: number;
  subject: string;
  data: Uint8Array;
}

interface Pending {
  resolve(msg: Msg): void;
  reject(error: Error): void;
  deadline: number;
}

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

/** Publishes and direct gets on one connection, answered through one inbox subscription. */
export class JetStreamPipe {
  private subscription: Subscription | undefined;
  private inbox = "";
  private counter = 0;
  private readonly pending = new Map<string, Pending>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private readonly outbox: (() => void)[] = [];
  private outboxScheduled = false;

  constructor(
    private readonly nc: NatsConnection,
    /** How long a request waits for its answer, ms (nats.js's JetStream default: 5000). */
    private readonly timeoutMs = 5000,
  ) {
    // Nothing answers once the connection is closed: fail what is pending at once.
    void nc.closed().then(() => this.close());
  }

  /** Publishes to a stream's subject and resolves with JetStream's acknowledgement. */
  async publish(
    subject: string,
    data: string | Uint8Array,
    options: { msgId?: string; headers?: MsgHdrs; timeoutMs?: number } = {},
  ): Promise<PipeAck> {
    let headers = options.headers;
    if (options.msgId !== undefined) {
      headers ??= natsHeaders();
      headers.set("Nats-Msg-Id", options.msgId);
    }
    const reply = await this.request(subject, data, headers, options.timeoutMs);
    failOnStatus(reply, subject);
    let answer: { stream?: string; seq?: number; duplicate?: boolean; error?: { description?: string } };
    try {
      answer = JSON.parse(decoder.decode(reply.data)) as typeof answer;
    } catch (cause) {
      throw new PipeRequestError(`invalid JetStream acknowledgement for '${subject}'`, "api", { cause });
    }
    if (answer.error) {
      throw new PipeRequestError(answer.error.description ?? "JetStream refused the publish", "api", {
        cause: answer.error,
      });
    }
    if (typeof answer.stream !== "string" || answer.stream === "" || typeof answer.seq !== "number") {
      throw new PipeRequestError(`invalid JetStream acknowledgement for '${subject}'`, "api");
    }
    return { stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true };
  }

  /**
   * The last message of `subject` (wildcards allowed) in `stream`, by a direct get with the subject
   * in the request subject; `null` when there is none.
   */
  async lastBySubject(stream: string, subject: string, timeoutMs?: number): Promise<PipeStoredMsg | null> {
    const reply = await this.request(`$JS.API.DIRECT.GET.${stream}.${subject}`, EMPTY, undefined, timeoutMs);
    const headers = reply.headers;
    if (headers?.code === 404) return null;
    failOnStatus(reply, subject);
    const seq = Number(headers?.get("Nats-Sequence"));
    if (!headers || !Number.isSafeInteger(seq)) {
      throw new PipeRequestError(`invalid direct get answer for '${subject}'`, "api");
    }
    return { seq, subject: headers.get("Nats-Subject"), data: reply.data };
  }

  /**
   * Runs `send` (a publish, an ack) in this event-loop turn's batch, after the sends queued before it.
   * A send that throws (the connection is closed) is dropped.
   */
  defer(send: () => void): void {
    this.outbox.push(send);
    if (this.outboxScheduled) return;
    this.outboxScheduled = true;
    setImmediate(this.flushOutbox);
  }

  /** Sends what {@link defer} has queued now (before a shutdown drains the connection). */
  flush(): void {
    this.flushOutbox();
  }

  private readonly flushOutbox = (): void => {
    this.outboxScheduled = false;
    const sends = this.outbox.splice(0);
    for (const send of sends) {
      try {
        send();
      } catch {
        // The connection is closed or draining: a request fails on its deadline (or at close).
      }
    }
  };

  /** Fails the pending requests and drops the subscription (the connection is left alone). */
  close(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.failAll(new PipeRequestError("the JetStream pipe was closed", "subscription"));
  }

  private request(
    subject: string,
    data: string | Uint8Array,
    headers: MsgHdrs | undefined,
    timeoutMs = this.timeoutMs,
  ): Promise<Msg> {
    if (!this.subscription || this.subscription.isClosed()) this.subscribe();
    const token = (this.counter++).toString(36);
    const reply = `${this.inbox}${token}`;
    return new Promise<Msg>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      this.sweeper ??= setInterval(() => this.sweep(), Math.max(10, Math.min(250, timeoutMs / 4)));
      this.defer(() => {
        if (!this.pending.has(token)) return;
        try {
          this.nc.publish(subject, data, { reply, ...(headers && { headers }) });
        } catch (error) {
          this.settle(token)?.reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  private subscribe(): void {
    const inbox = `${createInbox(inboxPrefixOf(this.nc))}.`;
    this.inbox = inbox;
    const subscription = this.nc.subscribe(`${inbox}*`, {
      callback: (error, msg) => {
        if (error) {
          if (this.subscription === subscription) this.subscription = undefined;
          this.failAll(new PipeRequestError(`reply subscription failed: ${error.message}`, "subscription"));
          return;
        }
        this.settle(msg.subject.slice(inbox.length))?.resolve(msg);
      },
    });
    this.subscription = subscription;
  }

  /** Removes a pending request and returns it. */
  private settle(token: string): Pending | undefined {
    const entry = this.pending.get(token);
    if (entry === undefined) return undefined;
    this.pending.delete(token);
    if (this.pending.size === 0) this.stopSweeper();
    return entry;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, entry] of this.pending) {
      if (entry.deadline <= now) {
        this.pending.delete(token);
        entry.reject(new PipeRequestError("timed out waiting for JetStream", "timeout"));
      }
    }
    if (this.pending.size === 0) this.stopSweeper();
  }

  private stopSweeper(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private failAll(error: Error): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    this.stopSweeper();
    for (const entry of entries) entry.reject(error);
  }
}

/** Throws for a status reply (no responders, or any other error status). */
function failOnStatus(reply: Msg, subject: string): void {
  const headers = reply.headers;
  if (!headers?.hasError) return;
  if (headers.code === 503) {
    throw new PipeRequestError(`no JetStream stream answered on '${subject}' (503)`, "no_responders");
  }
  throw new PipeRequestError(`JetStream answered ${headers.status} for '${subject}'`, "api");
}

/** The connection's inbox prefix (nats.js keeps it in its options). */
function inboxPrefixOf(nc: NatsConnection): string | undefined {
  return (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
}
