/**
 * The standard health RPC `<PascalCase(service)>.Health` (runtime spec §6.1 step 5, §6.3): answers
 * with the aggregated {@link HealthResponse}. It is mounted only when the contract declares it.
 */
import type { ContractModule } from "@trellis/contracts";
import { Result } from "@trellis/result";
import type { RpcHandler, RpcServer } from "../rpc/server.js";
import type { ServiceHealth } from "./service-health.js";
import type { HealthResponse } from "./types.js";

/** PascalCase of a service name: `billing-service` → `BillingService`, `orders` → `Orders`. */
function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

/** The logical name of a service's health RPC: `billing-service` → `BillingService.Health`. */
export function healthRpcName(serviceName: string): string {
  const pascal = pascalCase(serviceName);
  if (!pascal) throw new Error(`Service name '${serviceName}' has no letters or digits`);
  return `${pascal}.Health`;
}

/** A handler for the health RPC: runs the checks and answers with the aggregate (the input is ignored). */
export function healthRpcHandler(health: ServiceHealth): RpcHandler<unknown, HealthResponse> {
  return async () => Result.ok(await health.run());
}

/**
 * Mounts the health RPC of `serviceName` on `server` if `contract` declares it; returns the mounted
 * method name, or `undefined` when the contract has no such RPC.
 */
export function mountHealthRpc(
  server: RpcServer,
  contract: ContractModule,
  serviceName: string,
  health: ServiceHealth,
): string | undefined {
  const method = healthRpcName(serviceName);
  if (!contract.API.owned.rpc[method]) return undefined;
  server.mount(method, healthRpcHandler(health), {});
  return method;
}
