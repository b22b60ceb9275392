/**
 * Signing in against a real platform (`startPlatform()`): plays the person at the portal over HTTP —
 * local sign-in, then approval of the contract — and connects the client through the detached flow.
 */
import type { AnyContractModule } from "@trellis/contracts";
import { type AuthRequiredInfo, TrellisClient, waitForDetachedFlow } from "@trellis/runtime";
import { approveSignIn, type PlatformHandle } from "@trellis/testing";

/** Signs in locally as `username` on the flow and approves its contract; throws on any refusal. */
export async function approveFlow(
  platform: PlatformHandle,
  info: AuthRequiredInfo,
  username: string,
  password: string,
): Promise<void> {
  await approveSignIn(platform.url, info.flowId, username, password);
  await waitForDetachedFlow(info, { pollIntervalMs: 100, timeoutMs: 10_000 });
}

/** Connects `contract` as `username`, completing the sign-in flow over HTTP. */
export function signIn<M extends AnyContractModule>(
  platform: PlatformHandle,
  contract: M,
  username: string,
  password: string,
): Promise<TrellisClient<M> & { sessionKeySeed: string }> {
  return TrellisClient.connect({
    trellisUrl: platform.url,
    contract,
    logger: false,
    onAuthRequired: (info) => approveFlow(platform, info, username, password),
  });
}
