/**
 * The operation model and wire forms (runtime spec §4.2, §4.5): snapshots, events, the durable record
 * kept in the deployment's operations bucket, control requests and the frames a control request is
 * answered with.
 *
 * | frame             | body                                                                  | sent for              |
 * |-------------------|-----------------------------------------------------------------------|-----------------------|
 * | `snapshot`        | `{kind, snapshot}`                                                    | get, cancel, wait, watch (first) |
 * | `event`           | `{kind, sequence, event: {type, snapshot, progress?}}`                | watch                 |
 * | `signal-accepted` | `{kind, operationId, signal, signalSequence, acceptedAt, snapshot}`   | signal                |
 * | `keepalive`       | `{kind}`, every 10 s while a watch or wait is open                    | watch, wait           |
 * | `error`           | `{kind, error}` (no `status` header)                                  | any                   |
 */
import { z } from "zod";
import type { ErrorEnvelope } from "../errors/errors.js";

/** Where an operation stands; `completed`, `failed` and `cancelled` are terminal. */
export type OperationState = "pending" | "running" | "completed" | "failed" | "cancelled";

/** The terminal states. */
export const TERMINAL_STATES: ReadonlySet<OperationState> = new Set(["completed", "failed", "cancelled"]);

/** Is `state` terminal? */
export function isTerminalState(state: OperationState): boolean {
  return TERMINAL_STATES.has(state);
}

/** What a caller needs to find an operation again: `client.operation.<g>.<l>.resume(ref)`. */
export interface OperationRefData {
  /** The operation id (a ULID). */
  id: string;
  /** The service that accepted it. */
  service: string;
  /** The operation's logical name, e.g. `Orders.Refund`. */
  operation: string;
}

/** The caller-visible state of one operation; `revision` grows by one with every change. */
export interface OperationSnapshot<TOutput = unknown, TProgress = unknown> extends OperationRefData {
  /** 1 when accepted, then +1 per transition. */
  revision: number;
  /** Current state. */
  state: OperationState;
  /** When it was accepted (ISO 8601). */
  createdAt: string;
  /** When it last changed (ISO 8601). */
  updatedAt: string;
  /** When it reached a terminal state. */
  completedAt?: string;
  /** The latest progress. */
  progress?: TProgress;
  /** The output, once completed. */
  output?: TOutput;
  /** The serialized error, once failed. */
  error?: ErrorEnvelope;
}

/** Types of event frames; `accepted` is only ever the start reply and the initial snapshot of a watch. */
export type OperationEventType = "accepted" | "started" | "progress" | "completed" | "failed" | "cancelled";

/** One step of an operation as a watcher sees it. Progress is both on the event and on its snapshot. */
export type OperationEvent<TOutput = unknown, TProgress = unknown> =
  | { type: "progress"; progress: TProgress; snapshot: OperationSnapshot<TOutput, TProgress> }
  | {
      [T in Exclude<OperationEventType, "progress">]: {
        type: T;
        snapshot: OperationSnapshot<TOutput, TProgress>;
      };
    }[Exclude<OperationEventType, "progress">];

/** A signal accepted for an operation and stored in its record. */
export interface StoredSignal {
  /** The operation. */
  operationId: string;
  /** 1, 2, … per operation. */
  sequence: number;
  /** The signal's name. */
  signal: string;
  /** Its validated input. */
  input?: unknown;
  /** When it was accepted (ISO 8601). */
  acceptedAt: string;
}

/**
 * The durable record of one operation (service-owned, keyed by id in the operations bucket). Besides
 * the spec's fields it keeps the event of the transition that produced the snapshot, so that every
 * replica can forward it to its watchers, and the start request's id and trace id for error context.
 */
export interface OperationRecord {
  /** The session that started it: only that session may control it. */
  ownerSessionKey: string;
  /** Event frames emitted so far. */
  sequence: number;
  /** Signals accepted so far. */
  signalSequence: number;
  /** Every accepted signal, in order. */
  signals: StoredSignal[];
  /** The current snapshot. */
  snapshot: OperationSnapshot;
  /** The event that produced `snapshot` (absent while it is the accepted snapshot). */
  lastEvent?: { sequence: number; type: Exclude<OperationEventType, "accepted"> };
  /** The start request's id. */
  requestId?: string;
  /** The start request's trace id. */
  traceId?: string;
}

const stateSchema = z.enum(["pending", "running", "completed", "failed", "cancelled"]);

/** Parses a stored or received snapshot (extra fields are kept). */
export const snapshotSchema = z.looseObject({
  id: z.string().min(1),
  service: z.string(),
  operation: z.string().min(1),
  revision: z.int().min(1),
  state: stateSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  completedAt: z.string().optional(),
  progress: z.unknown().optional(),
  output: z.unknown().optional(),
  error: z.looseObject({ id: z.string(), type: z.string(), message: z.string() }).optional(),
});

/** Parses a record read from the bucket. */
export const recordSchema = z.looseObject({
  ownerSessionKey: z.string().min(1),
  sequence: z.int().min(0),
  signalSequence: z.int().min(0),
  signals: z.array(
    z.looseObject({
      operationId: z.string(),
      sequence: z.int().min(1),
      signal: z.string(),
      input: z.unknown().optional(),
      acceptedAt: z.string(),
    }),
  ),
  snapshot: snapshotSchema,
  lastEvent: z
    .object({
      sequence: z.int().min(1),
      type: z.enum(["started", "progress", "completed", "failed", "cancelled"]),
    })
    .optional(),
  requestId: z.string().optional(),
  traceId: z.string().optional(),
});

/** Control actions. */
export type ControlAction = "get" | "wait" | "watch" | "cancel" | "signal";

/** A request on `<subject>.control`. */
export type ControlRequest =
  | { action: "get" | "wait" | "watch" | "cancel"; operationId: string }
  | { action: "signal"; operationId: string; signal: string; input?: unknown };

/** Parses the envelope of a control request (action and id; the signal fields are checked later). */
export const controlRequestSchema = z.looseObject({
  action: z.string().min(1),
  operationId: z.string().min(1),
  signal: z.unknown().optional(),
  input: z.unknown().optional(),
});

/** The reply to a start request. */
export interface AcceptedReply {
  /** Always `accepted`. */
  kind: "accepted";
  /** The new operation. */
  ref: OperationRefData;
  /** Its first snapshot (revision 1, `pending`). */
  snapshot: OperationSnapshot;
}

/** Parses the reply to a start request. */
export const acceptedReplySchema = z.looseObject({
  kind: z.literal("accepted"),
  ref: z.looseObject({ id: z.string().min(1), service: z.string(), operation: z.string().min(1) }),
  snapshot: snapshotSchema,
});

/** A frame answering a control request. */
export type ControlFrame =
  | { kind: "snapshot"; snapshot: OperationSnapshot }
  | { kind: "event"; sequence: number; event: OperationEvent }
  | {
      kind: "signal-accepted";
      operationId: string;
      signal: string;
      signalSequence: number;
      acceptedAt: string;
      snapshot: OperationSnapshot;
    }
  | { kind: "keepalive" }
  | { kind: "error"; error: ErrorEnvelope };

/** Parses a received control frame. */
export const controlFrameSchema = z.discriminatedUnion("kind", [
  z.looseObject({ kind: z.literal("snapshot"), snapshot: snapshotSchema }),
  z.looseObject({
    kind: z.literal("event"),
    sequence: z.int().min(1),
    event: z.looseObject({
      type: z.enum(["accepted", "started", "progress", "completed", "failed", "cancelled"]),
      snapshot: snapshotSchema,
      progress: z.unknown().optional(),
    }),
  }),
  z.looseObject({
    kind: z.literal("signal-accepted"),
    operationId: z.string(),
    signal: z.string(),
    signalSequence: z.int().min(1),
    acceptedAt: z.string(),
    snapshot: snapshotSchema,
  }),
  z.looseObject({ kind: z.literal("keepalive") }),
  z.looseObject({ kind: z.literal("error"), error: z.unknown() }),
]);

/** Interval of keepalive frames on open watches and waits, ms. */
export const KEEPALIVE_INTERVAL_MS = 10_000;

/** The event a snapshot stands for when it is the first frame of a watch (`pending` → `accepted`). */
export function eventTypeOfSnapshot(snapshot: OperationSnapshot): Exclude<OperationEventType, "progress"> {
  switch (snapshot.state) {
    case "pending":
      return "accepted";
    case "running":
      return "started";
    default:
      return snapshot.state;
  }
}
