/**
 * The person at the portal, over HTTP: completes the browser side of a detached sign-in flow on a
 * running platform, so tests can sign clients in without a browser.
 */

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/**
 * Signs in locally as `username` on the flow `flowId` at `trellisUrl` and approves its contract when
 * asked; throws on any refusal. The client then sees the flow complete (`waitForDetachedFlow`).
 */
export async function approveSignIn(
  trellisUrl: string,
  flowId: string,
  username: string,
  password: string,
): Promise<void> {
  const login = await postJson(`${trellisUrl}/auth/login/local`, { flowId, username, password });
  if (login.status !== 200) throw new Error(`local login failed (${login.status}): ${await login.text()}`);
  const state = (await (await fetch(`${trellisUrl}/auth/flow/${flowId}`)).json()) as { status: string };
  if (state.status === "approval_required") {
    const approval = await postJson(`${trellisUrl}/auth/flow/${flowId}/approval`, { approved: true });
    if (approval.status !== 200)
      throw new Error(`approval failed (${approval.status}): ${await approval.text()}`);
  }
}
