#!/usr/bin/env node
/**
 * Runs the orders service: `TRELLIS_URL=… TRELLIS_SESSION_KEY_SEED=… node dist/main-service.js`
 * (`TRELLIS_SERVICE_NAME` defaults to `orders`). It waits for the control plane to accept the
 * deployment's authority, serves until SIGINT/SIGTERM, then stops cleanly.
 *
 * Exit codes: 0 stopped by a signal, 1 could not connect or failed, 2 missing or bad environment.
 */
import type { TrellisService } from "@trellis/runtime";
import { serviceConfigFrom } from "./config.js";
import type { ordersContract } from "./contract.js";
import { connectOrdersService } from "./run-service.js";

async function main(): Promise<number> {
  const config = serviceConfigFrom(process.env);
  if (config.isErr()) {
    process.stderr.write(`main-service: ${config.error.message}\n`);
    return 2;
  }
  const bootstrapping = new AbortController();
  let service: TrellisService<typeof ordersContract> | undefined;
  const onSignal = () => {
    if (service) void service.stop();
    else bootstrapping.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    service = await connectOrdersService({ ...config.value, signal: bootstrapping.signal });
    service.client.logger.info({ service: config.value.name }, "Orders service ready");
    await service.wait();
    return 0;
  } catch (error) {
    if (bootstrapping.signal.aborted) return 0;
    process.stderr.write(`main-service: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

process.exitCode = await main();
