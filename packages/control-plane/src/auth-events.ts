/** Publishes the `trellis.auth@v1` events the control plane owns; failures are logged, never thrown. */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { AnyContractModule } from "@trellis/contracts";
import { EventPublisher, type Logger, SchemaSet } from "@trellis/runtime";
import type { AuthEvents } from "./context.js";

/** {@link AuthEvents} over JetStream with the auth contract's schemas. */
export function createAuthEvents(
  js: JetStreamClient,
  authContract: AnyContractModule,
  logger: Logger,
): AuthEvents {
  const publisher = new EventPublisher({
    js,
    contract: authContract,
    schemas: SchemaSet.of(authContract.CONTRACT),
    logger,
  });
  const publish = async (event: string, data: Record<string, unknown>) => {
    const result = await publisher.publish(event as never, data as never);
    if (result.isErr()) logger.warn({ err: result.error, event }, "Failed to publish an auth event");
  };
  return {
    sessionRevoked: (input) => publish("Auth.Sessions.Revoked", input),
    connectionOpened: (input) => publish("Auth.Connections.Opened", input),
    connectionClosed: (input) => publish("Auth.Connections.Closed", input),
    connectionKicked: (input) => publish("Auth.Connections.Kicked", input),
  };
}
