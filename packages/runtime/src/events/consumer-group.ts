/**
 * Durable event listeners (runtime spec §2 "Listen", durable mode): one runner per contract
 * `eventConsumers.<group>`, bound to the JetStream consumer the platform provisioned for it. The
 * service never creates or changes that consumer; it only binds with `js.consumers.get`.
 *
 * Startup rule: handlers are registered first; {@link EventConsumerGroupRunner.start} refuses to run
 * until every event of the group (`self` and every `uses.<alias>` list) has a handler, naming the
 * missing ones. Nothing starts implicitly.
 *
 * Per message, processed one at a time in stream order: no registration matches the subject → `nak`;
 * body not JSON or not valid for the schema → `term` (never redelivered); handler `Result.err` or
 * throw → `nak` (delayed per the consumer's `backoff`, since JetStream applies backoff only to ack
 * timeouts, not to naks); success → `ack`. Delivery is at-least-once: handlers must be idempotent.
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import {
  type AnyContractModule,
  type EventConsumerGroup,
  type EventRuntimeDescriptor,
  templateToWildcard,
} from "@trellis/contracts";
import { AsyncResult, type BaseError, Result } from "@trellis/result";
import { RuntimeError, type RuntimeErrorOptions } from "../errors/errors.js";
import { HEADERS } from "../headers.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { extractTraceContext, failSpan, SpanKind, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import {
  assertSchemaKnown,
  decodeEvent,
  headerOf,
  invokeHandler,
  settlesWithin,
  subjectMatches,
} from "./handling.js";
import type { EventHandler, EventListenerContext, EventNameOf, EventPayloadOf } from "./types.js";

/** Where a consumer group's durable consumer lives (provisioned by the platform, never by the service). */
export interface EventConsumerBinding {
  /** The stream (`trellis` for contract events). */
  stream: string;
  /** The durable consumer's name. */
  consumerName: string;
  /** The filter subjects the platform gave the consumer (checked against the consumer, informative). */
  filterSubjects?: string[];
}

/** Why a consumer group could not start. */
export type EventConsumerGroupFailure = "handlers_missing" | "consumer_unavailable";

/** A consumer group could not start: handlers are missing or the durable consumer cannot be bound. */
export class EventConsumerGroupError extends RuntimeError {
  /** Machine-readable reason. */
  readonly reason: EventConsumerGroupFailure;
  /** Events of the group that have no handler (for `handlers_missing`). */
  readonly missing: string[];

  constructor(
    reason: EventConsumerGroupFailure,
    message: string,
    options: RuntimeErrorOptions & { missing?: string[] } = {},
  ) {
    super(message, options);
    this.reason = reason;
    this.missing = options.missing ?? [];
  }

  protected override wireFields() {
    return { reason: this.reason, ...(this.missing.length > 0 && { missing: this.missing }) };
  }
}

/** Options of {@link EventConsumerGroupRunner}. */
export interface EventConsumerGroupOptions<M extends AnyContractModule = AnyContractModule> {
  /** JetStream client of the service's connection. */
  js: JetStreamClient;
  /** The service contract declaring `eventConsumers.<group>`. */
  contract: M;
  /** The group's name in `eventConsumers`. */
  group: string;
  /** The platform-provisioned consumer to bind to. */
  binding: EventConsumerBinding;
  /** Validators of the contract's own schemas (for `self` events). */
  schemas: SchemaSet;
  /** Validators of used contracts' schemas, by `uses` alias (default: `schemas`). */
  dependencySchemas?: Readonly<Record<string, SchemaSet>>;
  /** Logger. */
  logger: Logger;
  /** Metrics sink. */
  metrics?: Metrics;
  /** How long `stop()` waits for the message in progress, ms (default 10000). */
  stopTimeoutMs?: number;
}

interface Registration {
  eventName: string;
  pattern: string;
  schemaName: string;
  schemas: SchemaSet;
  run?: (event: Record<string, unknown>, context: EventListenerContext) => Promise<Result<void, BaseError>>;
}

interface Running {
  messages: ConsumerMessages;
  loop: Promise<void>;
  stopping: boolean;
  backoffMs: number[];
}

/** Runs the durable handlers of one contract event consumer group. */
export class EventConsumerGroupRunner<M extends AnyContractModule = AnyContractModule> {
  /** The group's name. */
  readonly group: string;
  private readonly registrations = new Map<string, Registration>();
  private running: Running | undefined;
  private stopping: Promise<void> | undefined;

  /** Reads the group from the contract; an undeclared group or an unknown event throws. */
  constructor(private readonly options: EventConsumerGroupOptions<M>) {
    const { contract, group } = options;
    this.group = group;
    const declared: Record<string, EventConsumerGroup> = contract.CONTRACT.eventConsumers ?? {};
    const declaration = Object.hasOwn(declared, group) ? declared[group] : undefined;
    if (!declaration) {
      throw new Error(`contract '${contract.CONTRACT_ID}' declares no event consumer group '${group}'`);
    }
    const events: Readonly<Record<string, EventRuntimeDescriptor>> = contract.API.trellis.events;
    const add = (eventName: string, schemas: SchemaSet) => {
      const descriptor = Object.hasOwn(events, eventName) ? events[eventName] : undefined;
      if (!descriptor) {
        throw new Error(
          `event '${eventName}' of consumer group '${group}' is not in the API of contract ` +
            `'${contract.CONTRACT_ID}' (a module built from a manifest alone does not know used events)`,
        );
      }
      this.registrations.set(eventName, {
        eventName,
        pattern: templateToWildcard(descriptor.subject),
        schemaName: descriptor.event.schema,
        schemas,
      });
    };
    for (const [alias, names] of Object.entries(declaration.uses ?? {})) {
      for (const name of names) add(name, options.dependencySchemas?.[alias] ?? options.schemas);
    }
    for (const name of declaration.self ?? []) add(name, options.schemas);
  }

  /** Every event of the group. */
  get events(): string[] {
    return [...this.registrations.keys()];
  }

  /** Events of the group that have no handler yet. */
  missingHandlers(): string[] {
    return [...this.registrations.values()].filter((r) => !r.run).map((r) => r.eventName);
  }

  /** Whether the fetch loop is running. */
  get started(): boolean {
    return this.running !== undefined;
  }

  /**
   * Registers the handler of one event of the group. Throws for an event outside the group, a second
   * handler for the same event, a schema missing from the schema set, or a running group.
   */
  register<K extends EventNameOf<M>>(eventName: K, handler: EventHandler<EventPayloadOf<M, K>>): this {
    const registration = this.registrations.get(eventName);
    if (!registration) {
      throw new Error(
        `event '${eventName}' is not part of event consumer group '${this.group}' ` +
          `(its events: ${this.events.join(", ")})`,
      );
    }
    if (registration.run)
      throw new Error(`event '${eventName}' already has a handler in group '${this.group}'`);
    if (this.running) throw new Error(`event consumer group '${this.group}' is already running`);
    assertSchemaKnown(registration.schemas, registration.schemaName, eventName);
    registration.run = (event, context) => invokeHandler(handler, event as EventPayloadOf<M, K>, context);
    return this;
  }

  /**
   * Binds to the durable consumer and starts the loop. Refuses (`handlers_missing`, naming them) until
   * every event of the group has a handler; `consumer_unavailable` when the consumer cannot be bound.
   * Calling it while running is a no-op.
   */
  start(): AsyncResult<void, EventConsumerGroupError> {
    return AsyncResult.from(this.bind());
  }

  /** Stops the loop: no new message is taken, the one in progress finishes (bounded); idempotent. */
  stop(): Promise<void> {
    const running = this.running;
    if (!running) return this.stopping ?? Promise.resolve();
    this.stopping ??= (async () => {
      running.stopping = true;
      const limit = this.options.stopTimeoutMs ?? 10_000;
      const closed = running.messages.close();
      const finished = await settlesWithin(Promise.all([closed, running.loop]), limit);
      if (!finished) {
        this.options.logger.warn(
          { group: this.group },
          "Event consumer group stopped with a handler still running.",
        );
      }
      this.running = undefined;
      this.stopping = undefined;
      this.options.logger.info({ group: this.group }, "Event consumer group stopped.");
    })();
    return this.stopping;
  }

  private async bind(): Promise<Result<void, EventConsumerGroupError>> {
    if (this.running) return Result.ok(undefined);
    if (this.stopping) await this.stopping;
    const missing = this.missingHandlers();
    if (missing.length > 0) {
      return Result.err(
        new EventConsumerGroupError(
          "handlers_missing",
          `event consumer group '${this.group}' cannot start: no handler for ${missing.map((m) => `'${m}'`).join(", ")}`,
          { missing, context: { group: this.group } },
        ),
      );
    }
    const { js, binding, logger } = this.options;
    let messages: ConsumerMessages;
    let backoffMs: number[];
    try {
      const consumer = await js.consumers.get(binding.stream, binding.consumerName);
      const info = await consumer.info(true);
      backoffMs = (info.config.backoff ?? []).map((nanos) => Math.round(nanos / 1_000_000));
      const actual = [
        ...(info.config.filter_subjects ?? []),
        ...(info.config.filter_subject ? [info.config.filter_subject] : []),
      ];
      if (binding.filterSubjects && !sameSet(binding.filterSubjects, actual)) {
        logger.warn(
          { group: this.group, expected: binding.filterSubjects, actual },
          "The durable consumer's filter subjects differ from the binding's.",
        );
      }
      // One message at a time: strict ordering, and nothing buffered beyond the message in progress.
      messages = await consumer.consume({ max_messages: 1 });
    } catch (cause) {
      return Result.err(
        new EventConsumerGroupError(
          "consumer_unavailable",
          `event consumer group '${this.group}' cannot bind to consumer '${binding.consumerName}' of stream '${binding.stream}': ${cause instanceof Error ? cause.message : String(cause)}`,
          { cause, context: { group: this.group, stream: binding.stream, consumer: binding.consumerName } },
        ),
      );
    }
    const running: Running = { messages, loop: Promise.resolve(), stopping: false, backoffMs };
    running.loop = (async () => {
      for await (const msg of messages) {
        if (running.stopping) {
          msg.nak();
          continue;
        }
        try {
          await this.handle(msg, running);
        } catch (cause) {
          // Keep the loop alive: the message is redelivered after its ack wait at the latest.
          logger.error({ err: cause, group: this.group, subject: msg.subject }, "Event processing failed.");
        }
      }
    })().catch((cause: unknown) => {
      logger.error({ err: cause, group: this.group }, "Event consumer group loop failed.");
    });
    this.running = running;
    logger.info(
      { group: this.group, stream: binding.stream, consumer: binding.consumerName, events: this.events },
      "Event consumer group started.",
    );
    return Result.ok(undefined);
  }

  private nakDelay(running: Running, deliveryCount: number): number | undefined {
    const { backoffMs } = running;
    if (backoffMs.length === 0) return undefined;
    return backoffMs[Math.min(Math.max(deliveryCount, 1), backoffMs.length) - 1];
  }

  private async handle(msg: JsMsg, running: Running): Promise<void> {
    const { logger, metrics } = this.options;
    const nak = () => {
      const delay = this.nakDelay(running, msg.info.deliveryCount);
      msg.nak(delay);
    };
    let registration: Registration | undefined;
    for (const candidate of this.registrations.values()) {
      if (subjectMatches(candidate.pattern, msg.subject)) {
        registration = candidate;
        break;
      }
    }
    if (!registration?.run) {
      logger.warn({ group: this.group, subject: msg.subject }, "No handler matches the event subject; nak.");
      metrics?.eventHandled("unmatched", "nak");
      nak();
      return;
    }
    const { eventName } = registration;
    const decoded = decodeEvent(msg.data, registration.schemaName, registration.schemas);
    if (decoded.isErr()) {
      logger.warn(
        { group: this.group, event: eventName, seq: msg.info.streamSequence, issues: decoded.error.issues },
        "Invalid event terminated (it will not be redelivered).",
      );
      metrics?.eventHandled(eventName, "term");
      metrics?.error({
        type: decoded.error.name,
        surface: "event",
        direction: "consumer",
        operation: eventName,
        phase: "validation",
      });
      msg.term(`invalid event: ${decoded.error.message}`.slice(0, 256));
      return;
    }
    const header = headerOf(decoded.value, msg.headers?.get(HEADERS.msgId) || undefined);
    const context: EventListenerContext = {
      id: header.id,
      time: header.time,
      subject: msg.subject,
      mode: "durable",
      group: this.group,
      sequence: msg.info.streamSequence,
      deliveryCount: msg.info.deliveryCount,
    };
    const span = tracer.startSpan(
      `event.handle.${eventName}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          "trellis.event": eventName,
          "trellis.event.id": header.id,
          "trellis.consumer.group": this.group,
          "messaging.message.delivery_count": msg.info.deliveryCount,
        },
      },
      extractTraceContext(msg.headers),
    );
    try {
      const outcome = await registration.run(decoded.value, context);
      if (outcome.isOk()) {
        msg.ack();
        metrics?.eventHandled(eventName, "ack");
        return;
      }
      failSpan(span, outcome.error);
      logger.warn(
        {
          err: outcome.error,
          group: this.group,
          event: eventName,
          id: header.id,
          deliveryCount: context.deliveryCount,
        },
        "Event handler failed; nak for redelivery.",
      );
      metrics?.eventHandled(eventName, "nak");
      metrics?.error({
        type: outcome.error.name,
        surface: "event",
        direction: "consumer",
        operation: eventName,
        phase: "handler",
      });
      nak();
    } finally {
      span.end();
    }
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
}
