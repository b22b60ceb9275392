/**
 * The outbox dispatcher (runtime spec §2): publishes what an {@link OutboxRepository} holds.
 *
 * - `notify()` is debounced (many notifications → one pass) and single-flight (never two passes at
 *   once; a notification during a pass causes one more pass after it).
 * - After a pass with failures, a retry timer runs another pass once `retryDelayMs` has passed;
 *   `idleRetryMs` optionally polls even without notifications (entries added by other processes,
 *   expired claims).
 * - Commit-then-notify: call `notify()` only after the transaction that added the events has
 *   committed. Notifying earlier can only find nothing (the pass sees committed rows only) and an
 *   event added in a transaction that rolled back was never stored, so it is never published.
 */
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { settlesWithin } from "./handling.js";
import {
  dispatchOutbox,
  type OutboxDispatchReport,
  type OutboxRepository,
  type PreparedEventPublisher,
} from "./outbox.js";

/** Options of {@link OutboxDispatcher}. */
export interface OutboxDispatcherOptions {
  /** Where the events wait. */
  repository: OutboxRepository;
  /** Publishes them (an `EventPublisher`). */
  publisher: PreparedEventPublisher;
  /** Logger. */
  logger: Logger;
  /** Metrics sink. */
  metrics?: Metrics;
  /** Most entries per pass (default 25). */
  limit?: number;
  /** Delay before retrying a failed publish, ms (default 1000). */
  retryDelayMs?: number;
  /** Debounce of `notify()`, ms (default 10). */
  debounceMs?: number;
  /** When set, also run a pass this long after the last one even without notifications, ms. */
  idleRetryMs?: number;
  /** How long `stop()` waits for the pass in progress, ms (default 10000). */
  stopTimeoutMs?: number;
}

/** Publishes outbox entries when notified, retrying failures on a timer. */
export class OutboxDispatcher {
  private debounceTimer: ReturnType<typeof setTimeout> | undefined;
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: OutboxDispatcherOptions) {}

  /** Asks for a dispatch pass soon. Call it after your transaction commits, never before. */
  notify(): void {
    if (this.stopped || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.kick();
    }, this.options.debounceMs ?? 10);
    this.debounceTimer.unref?.();
  }

  /** Runs passes now until nothing notified is left, and resolves when the last one ends. */
  async drain(): Promise<void> {
    if (this.debounceTimer) {
      clearTimeout(this.debounceTimer);
      this.debounceTimer = undefined;
    }
    if (!this.stopped) this.kick();
    while (this.inFlight) await this.inFlight;
  }

  /** Stops timers and waits (bounded) for the pass in progress; later notifications are ignored. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounceTimer);
    clearTimeout(this.wakeTimer);
    this.debounceTimer = undefined;
    this.wakeTimer = undefined;
    if (this.inFlight && !(await settlesWithin(this.inFlight, this.options.stopTimeoutMs ?? 10_000))) {
      this.options.logger.warn("Outbox dispatcher stopped while a pass was still publishing.");
    }
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = this.run().finally(() => {
      this.inFlight = undefined;
    });
  }

  private async run(): Promise<void> {
    const { repository, publisher, logger, metrics } = this.options;
    const limit = this.options.limit ?? 25;
    let failures = false;
    let more: boolean;
    do {
      this.again = false;
      let report: OutboxDispatchReport;
      try {
        report = await dispatchOutbox(repository, publisher, {
          limit,
          retryDelayMs: this.options.retryDelayMs ?? 1000,
        });
      } catch (cause) {
        logger.error({ err: cause }, "Outbox dispatch pass failed.");
        metrics?.error({
          type: cause instanceof Error ? cause.name : "UnexpectedError",
          surface: "outbox",
          direction: "publisher",
          phase: "dispatch",
        });
        failures = true;
        break;
      }
      if (report.failed > 0) {
        failures = true;
        logger.warn({ ...report }, "Some outbox events failed to publish; they will be retried.");
      } else if (report.claimed > 0) {
        logger.debug({ ...report }, "Outbox events dispatched.");
      }
      more = report.claimed >= limit;
    } while (!this.stopped && (this.again || more));
    this.schedule(failures);
  }

  private schedule(failures: boolean): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (this.stopped) return;
    const delays = [
      ...(failures ? [this.options.retryDelayMs ?? 1000] : []),
      ...(this.options.idleRetryMs !== undefined ? [this.options.idleRetryMs] : []),
    ];
    if (delays.length === 0) return;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.kick();
      },
      Math.min(...delays),
    );
    this.wakeTimer.unref?.();
  }
}
