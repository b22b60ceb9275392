/**
 * The NATS KV inbox: one key per message id, written with `create` (which fails when the key exists),
 * so concurrent replicas agree on who saw an id first. Give the bucket a TTL to bound its size.
 */
import { createHash } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { InboxRepository } from "./inbox.js";

const SAFE_KEY = /^[-\w=]{1,200}$/;

/** The KV key of a message id: the id itself when it is a plain token (ULIDs are), else a hash. */
export function inboxKey(messageId: string): string {
  return SAFE_KEY.test(messageId) ? messageId : `h=${createHash("sha256").update(messageId).digest("hex")}`;
}

/** An inbox in a NATS KV bucket (provisioned elsewhere; this class never creates it). */
export class KvInboxRepository implements InboxRepository {
  constructor(private readonly kv: KV) {}

  async record(messageId: string): Promise<boolean> {
    try {
      await this.kv.create(inboxKey(messageId), new TextEncoder().encode(String(Date.now())));
      return true;
    } catch (cause) {
      if (
        cause instanceof JetStreamApiError &&
        (cause.code === JetStreamApiCodes.StreamWrongLastSequence ||
          cause.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
      ) {
        return false;
      }
      throw cause;
    }
  }
}
