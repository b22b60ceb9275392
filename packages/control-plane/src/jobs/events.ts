/**
 * Lifecycle events the Jobs admin publishes itself — `cancelled`, `retried`, `dismissed` (admin
 * actions), `expired` (janitor) and `dead` (advisories) — as JetStream publishes acknowledged by
 * `JOBS`, with the job's `request-id` / `traceparent` / `tracestate` headers.
 *
 * De-duplication id: `Nats-Msg-Id = <jobId>.<eventType>.<n>`, where `n` is the `JOBS` sequence of the
 * last event applied to the projected job the decision was taken on. Two decisions taken on the same
 * job state (a janitor pass repeated, an advisory redelivered, an admin retrying a timed-out call)
 * therefore publish the same id and JetStream keeps one of them; a decision on a later state is new.
 */
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { type JobEventType, jobEventSubject } from "@trellis/contracts";
import { HEADERS, JOB_EVENT_STATE, type JobEvent } from "@trellis/runtime";
import type { ProjectedJob } from "./projection.js";

/** An event ready to publish and its de-duplication id. */
export interface OutgoingJobEvent {
  event: JobEvent;
  msgId: string;
}

/** Fields an admin-side event may set beyond what it copies from the job. */
export type FollowUpFields = Partial<Pick<JobEvent, "error" | "tries" | "payload" | "deadline" | "maxTries">>;

/**
 * The `eventType` event that moves `projected` on from its current state: it copies the job's
 * identity, context, `tries` and `maxTries`, and sets `previousState` to the current state.
 */
export function followUpEvent(
  projected: ProjectedJob,
  eventType: Exclude<JobEventType, "created">,
  now: Date,
  fields: FollowUpFields = {},
): OutgoingJobEvent {
  const { job } = projected;
  const event: JobEvent = {
    jobId: job.id,
    service: job.service,
    jobType: job.type,
    eventType,
    state: JOB_EVENT_STATE[eventType],
    previousState: job.state,
    context: job.context,
    tries: job.tries,
    maxTries: job.maxTries,
    timestamp: now.toISOString(),
    ...fields,
  };
  return { event, msgId: `${job.id}.${eventType}.${projected.lastSequence}` };
}

/** Publishes `outgoing` to its lifecycle subject and resolves with `JOBS`'s acknowledgement. */
export function publishJobEvent(js: JetStreamClient, outgoing: OutgoingJobEvent): Promise<PubAck> {
  const { event, msgId } = outgoing;
  const h = natsHeaders();
  h.set(HEADERS.requestId, event.context.requestId);
  h.set(HEADERS.traceparent, event.context.traceparent);
  if (event.context.tracestate !== undefined) h.set(HEADERS.tracestate, event.context.tracestate);
  return js.publish(
    jobEventSubject(event.service, event.jobType, event.jobId, event.eventType),
    JSON.stringify(event),
    { msgID: msgId, headers: h },
  );
}
