/**
 * Rebuilding the jobs projection from `JOBS` (runtime spec §3.8: the stream is the source of truth and
 * the projection is disposable): every lifecycle event from sequence 1 up to the newest one at the
 * time of the call is applied, in order, with the projector's own code, into a given projection.
 */
import { isDeepStrictEqual } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JOBS_STREAM } from "@trellis/contracts";
import { parseJobEventMessage } from "./model.js";
import type { JobsProjection } from "./projection.js";
import { PROJECTOR_FILTER } from "./runtime.js";

/** What a rebuild read. */
export interface RebuildSummary {
  /** Lifecycle messages read. */
  events: number;
  /** The `JOBS` sequence the rebuild stopped at (0 when there was nothing to read). */
  lastSequence: number;
}

/** Applies every lifecycle event of `JOBS` to `target` (normally a fresh, empty projection). */
export async function rebuildJobsProjection(
  nc: NatsConnection,
  target: JobsProjection,
): Promise<RebuildSummary> {
  const jsm = await jetstreamManager(nc);
  const newest = await jsm.streams.getMessage(JOBS_STREAM, { last_by_subj: PROJECTOR_FILTER });
  if (newest === null) return { events: 0, lastSequence: 0 };
  const consumer = await jetstream(nc).consumers.get(JOBS_STREAM, { filter_subjects: [PROJECTOR_FILTER] });
  const messages = await consumer.consume();
  let events = 0;
  try {
    for await (const msg of messages) {
      events += 1;
      const event = parseJobEventMessage(msg.subject, msg.data);
      if (event === undefined) target.skip(msg.seq);
      else target.applyEvent(msg.seq, event);
      if (msg.seq >= newest.seq) break;
    }
  } finally {
    await messages.close();
  }
  return { events, lastSequence: newest.seq };
}

/** How two projections differ, by job id. */
export interface ProjectionDifference {
  /** Jobs only in the first. */
  onlyInFirst: string[];
  /** Jobs only in the second. */
  onlyInSecond: string[];
  /** Jobs in both whose projected job or last applied sequence differ. */
  changed: string[];
}

/** Compares two projections job by job; all lists are empty when they are equal. */
export function compareProjections(first: JobsProjection, second: JobsProjection): ProjectionDifference {
  const a = new Map(first.all().map((projected) => [projected.job.id, projected]));
  const b = new Map(second.all().map((projected) => [projected.job.id, projected]));
  const difference: ProjectionDifference = { onlyInFirst: [], onlyInSecond: [], changed: [] };
  for (const [id, projected] of a) {
    const other = b.get(id);
    if (other === undefined) difference.onlyInFirst.push(id);
    else if (!isDeepStrictEqual(projected, other)) difference.changed.push(id);
  }
  for (const id of b.keys()) if (!a.has(id)) difference.onlyInSecond.push(id);
  return difference;
}
