/** The JetStream API errors the KV-backed stores tell apart. */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

/** A compare-and-set write lost: the key's last sequence was not the expected one. */
export function isWrongLastSequence(cause: unknown): boolean {
  return (
    cause instanceof JetStreamApiError &&
    (cause.code === JetStreamApiCodes.StreamWrongLastSequence ||
      cause.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** The bucket's stream does not exist. */
export function isStreamNotFound(cause: unknown): boolean {
  return cause instanceof JetStreamApiError && cause.code === JetStreamApiCodes.StreamNotFound;
}
