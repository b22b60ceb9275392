/**
 * Signing in against a real platform (`startPlatform()`): plays the person at the portal over HTTP —
 * local sign-in, then approval of the contract — and connects the client through the detached flow.
 */
import type { AnyContractModule } from "@trellis/contracts";
import { type AuthRequiredInfo, TrellisClient, waitForDetachedFlow } from "@trellis/runtime";
import type { PlatformHandle } from "@trellis/testing";

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Signs in locally as `username` on the flow and approves its contract; throws on any refusal. */
export async function approveFlow(
  platform: PlatformHandle,
  info: AuthRequiredInfo,
  username: string,
  password: string,
): Promise<void> {
  const login = await postJson(`${platform.url}/auth/login/local`, {
    flowId: info.flowId,
    username,
    password,
  });
  if (login.status !== 200) throw new Error(`local login failed (${login.status}): ${await login.text()}`);
  const state = (await (await fetch(`${platform.url}/auth/flow/${info.flowId}`)).json()) as {
    status: string;
  };
  if (state.status === "approval_required") {
    const approval = await postJson(`${platform.url}/auth/flow/${info.flowId}/approval`, { approved: true });
    if (approval.status !== 200)
      throw new Error(`approval failed (${approval.status}): ${await approval.text()}`);
  }
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
