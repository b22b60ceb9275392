/**
 * Connecting the orders service: bootstrap through the control plane with `TrellisService.connect`,
 * then mount the handlers on the bound `orders` KV resource. `main-service.ts` runs it as a process;
 * tests and `trellis dev` run it in-process.
 */
import { type LoggerOption, TrellisService } from "@trellis/runtime";
import { ordersContract } from "./contract.js";
import { mountOrders, ordersDepsOf } from "./service.js";

/** Options of {@link connectOrdersService}. */
export interface ConnectOrdersServiceOptions {
  /** Base URL of the control plane. */
  trellisUrl: string;
  /** The provisioned instance's session key seed. */
  sessionKeySeed: string;
  /** Service name (default `orders`). */
  name?: string;
  /** Logging (`false` silences). */
  logger?: LoggerOption;
  /** Heartbeat settings; `false` disables heartbeats. */
  heartbeat?: { publishIntervalMs?: number } | false;
  /** Stops waiting for the control plane (e.g. on Ctrl-C while a plan is pending). */
  signal?: AbortSignal;
}

/**
 * Connects the orders service and mounts its RPC handlers. The caller then runs `service.wait()`
 * (a process) or `service.start()` (in-process), and `service.stop()` to end it.
 */
export async function connectOrdersService(
  options: ConnectOrdersServiceOptions,
): Promise<TrellisService<typeof ordersContract>> {
  const service = await TrellisService.connect({
    trellisUrl: options.trellisUrl,
    contract: ordersContract,
    name: options.name ?? "orders",
    sessionKeySeed: options.sessionKeySeed,
    ...(options.logger !== undefined && { logger: options.logger }),
    ...(options.heartbeat !== undefined && { heartbeat: options.heartbeat }),
    ...(options.signal && { bootstrap: { signal: options.signal } }),
  });
  try {
    mountOrders(service, ordersDepsOf(service));
  } catch (error) {
    await service.stop();
    throw error;
  }
  return service;
}
