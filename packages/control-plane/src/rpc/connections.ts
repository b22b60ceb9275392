/** `Auth.Connections.*`: the live NATS connections admitted by the auth callout. */
import { Result } from "@trellis/result";
import type { LiveConnection } from "../callout/connections.js";
import type { StoredSession } from "../store/sessions-repository.js";
import { pageOf } from "./paging.js";
import { success } from "./responses.js";
import type { AuthRpcDeps, AuthRpcHandlers, AuthRpcOutput } from "./types.js";
import { ContractNames, participantView, sessionListKey } from "./views.js";

type ConnectionsRpc = "Auth.Connections.List" | "Auth.Connections.Kick";

type ConnectionEntry = AuthRpcOutput<"Auth.Connections.List">["entries"][number];

/** Handlers of `Auth.Connections.*`. */
export function connectionHandlers({ ctx }: AuthRpcDeps): AuthRpcHandlers<ConnectionsRpc> {
  const { store } = ctx;
  return {
    "Auth.Connections.List": async ({ input }) => {
      const names = new ContractNames(store);
      const now = ctx.now();
      const sessions = new Map<string, StoredSession | undefined>();
      const sessionOf = (sessionKey: string) => {
        if (!sessions.has(sessionKey)) sessions.set(sessionKey, store.sessions.get(sessionKey, now));
        return sessions.get(sessionKey);
      };
      const entries: ConnectionEntry[] = [];
      const live = await ctx.connections.list(input.sessionKey);
      live.sort((a, b) => (a.connectedAt < b.connectedAt ? -1 : a.connectedAt > b.connectedAt ? 1 : 0));
      for (const connection of live) {
        // A connection whose session is gone is about to be kicked; it has no principal to show.
        const session = sessionOf(connection.sessionKey);
        if (session === undefined) continue;
        if (input.user !== undefined && (session.type !== "user" || session.trellisId !== input.user))
          continue;
        entries.push({
          key: `${sessionListKey(session)}.${connection.userNkey}`,
          userNkey: connection.userNkey,
          sessionKey: connection.sessionKey,
          serverId: connection.serverId,
          clientId: connection.clientId,
          connectedAt: connection.connectedAt,
          ...participantView(store, names, session),
        });
      }
      return Result.ok(pageOf(entries, input));
    },

    "Auth.Connections.Kick": async ({ input, context }) => {
      const connection: LiveConnection | undefined = (await ctx.connections.list()).find(
        (candidate) => candidate.userNkey === input.userNkey,
      );
      if (connection === undefined) return success(false);
      const kicked = await ctx.connections.kick(input.userNkey);
      if (kicked) {
        await ctx.events.connectionKicked({
          origin: connection.kind ?? "user",
          id: connection.scopeId ?? connection.sessionKey,
          userNkey: connection.userNkey,
          kickedBy: context.caller.id,
        });
      }
      return success(kicked);
    },
  };
}
