/**
 * The feed wire protocol (runtime spec §1.3). Every frame travels from the service to the reply inbox
 * the caller named when subscribing:
 *
 * | frame | headers                | body                 | meaning                                    |
 * |-------|------------------------|----------------------|--------------------------------------------|
 * | ready | `feed-status: ready`   | empty                | first frame: authenticated, handler started |
 * | event | none                   | JSON event           | one validated event                         |
 * | error | `status: error`        | JSON error envelope  | terminal: the feed failed                   |
 * | end   | `feed-status: end`     | empty                | terminal: the handler returned              |
 *
 * An error frame may arrive instead of the ready frame (authentication or input refused). The client
 * publishes nothing after the subscribe request: closing a subscription only unsubscribes locally.
 */

/** Value of the `feed-status` header on the first frame. */
export const FEED_STATUS_READY = "ready";

/** Value of the `feed-status` header on the frame sent when the handler returns. */
export const FEED_STATUS_END = "end";
