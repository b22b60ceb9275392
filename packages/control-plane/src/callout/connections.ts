/**
 * Live connection tracking (auth spec §1.3, §3.4): one KV entry per admitted connection under
 * `<sessionKey>.b64_<base64url(scopeId)>.<userNkey>`, removed on disconnect; kicking a session asks
 * each server holding one of its connections to drop it.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "@trellis/runtime";
import { z } from "zod";
import type { AdmittedConnection } from "./callout.js";

/** Name of the connections bucket. */
export const CONNECTIONS_BUCKET = "trellis_connections";

const ConnectionRecordSchema = z.object({
  serverId: z.string(),
  clientId: z.number(),
  connectedAt: z.string(),
  kind: z.enum(["user", "service", "device"]).optional(),
  scopeId: z.string().optional(),
});

/** What is stored per live connection. */
export type ConnectionRecord = z.infer<typeof ConnectionRecordSchema>;

/** A live connection. */
export interface LiveConnection extends ConnectionRecord {
  /** The session key it authenticated with. */
  sessionKey: string;
  /** The server-generated user nkey. */
  userNkey: string;
}

/** Something that ends a session's live connections. */
export interface SessionKicker {
  /** Kicks every live connection of a session; returns how many were kicked. */
  kickSession(sessionKey: string): Promise<number>;
}

/** Events the registry reports (published as `Auth.Connections.*` by the caller). */
export interface ConnectionEvents {
  /** A connection went away. */
  closed?(connection: LiveConnection): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function connectionKey(sessionKey: string, scopeId: string, userNkey: string): string {
  return `${sessionKey}.b64_${Buffer.from(scopeId, "utf8").toString("base64url")}.${userNkey}`;
}

function parseKey(key: string): { sessionKey: string; userNkey: string } | undefined {
  const parts = key.split(".");
  if (parts.length !== 3 || !parts[0] || !parts[2]) return undefined;
  return { sessionKey: parts[0], userNkey: parts[2] };
}

const disconnectSchema = z.object({
  server: z.object({ id: z.string().optional() }).optional(),
  client: z.object({ id: z.number().optional(), user: z.string().optional(), nkey: z.string().optional() }),
});

/** A user nkey (`U…`, 56 characters). */
const USER_NKEY = /^U[A-Z2-7]{55}$/;

/** Tracks live connections in KV and kicks them through the system account. */
export class ConnectionRegistry implements SessionKicker {
  private subscription?: Subscription;
  /** Set by {@link stop}: advisories still in flight may then meet closing connections. */
  private stopping = false;

  constructor(
    private readonly kv: KV,
    /** Connection as `SYS/system`. */
    private readonly sys: NatsConnection,
    private readonly logger: Logger,
    private readonly events: ConnectionEvents = {},
  ) {}

  /** Records an admitted connection. */
  async record(connection: AdmittedConnection): Promise<void> {
    const record: ConnectionRecord = {
      serverId: connection.serverId,
      clientId: connection.clientId,
      connectedAt: new Date().toISOString(),
      kind: connection.principal.kind,
      scopeId: connection.principal.scopeId,
    };
    const key = connectionKey(connection.token.sessionKey, connection.principal.scopeId, connection.userNkey);
    await this.kv.put(key, encoder.encode(JSON.stringify(record)));
  }

  /** Every live connection, optionally of one session. */
  async list(sessionKey?: string): Promise<LiveConnection[]> {
    const out: LiveConnection[] = [];
    const keys = await this.kv.keys(sessionKey ? `${sessionKey}.>` : ">");
    for await (const key of keys) {
      const parsed = parseKey(key);
      const entry = await this.kv.get(key);
      if (!parsed || !entry || entry.operation !== "PUT") continue;
      const record = ConnectionRecordSchema.safeParse(JSON.parse(decoder.decode(entry.value)));
      if (record.success) out.push({ ...record.data, ...parsed });
    }
    return out;
  }

  /** Kicks one connection by its user nkey; `false` when it is not live. */
  async kick(userNkey: string): Promise<boolean> {
    const connection = (await this.list()).find((c) => c.userNkey === userNkey);
    if (!connection) return false;
    await this.kickConnection(connection);
    return true;
  }

  async kickSession(sessionKey: string): Promise<number> {
    const connections = await this.list(sessionKey);
    for (const connection of connections) await this.kickConnection(connection);
    return connections.length;
  }

  private async kickConnection(connection: LiveConnection): Promise<void> {
    try {
      await this.sys.request(
        `$SYS.REQ.SERVER.${connection.serverId}.KICK`,
        encoder.encode(JSON.stringify({ cid: connection.clientId })),
        {
          timeout: 2000,
        },
      );
    } catch (cause) {
      this.logger.warn({ err: cause, userNkey: connection.userNkey }, "Kick request failed");
    }
    await this.forget(connection);
  }

  private async forget(connection: LiveConnection): Promise<void> {
    const keys = await this.kv.keys(`${connection.sessionKey}.*.${connection.userNkey}`);
    for await (const key of keys) await this.kv.delete(key);
    this.events.closed?.(connection);
  }

  /** Starts following `$SYS.ACCOUNT.*.DISCONNECT` to drop entries of closed connections. */
  start(): void {
    const sub = this.sys.subscribe("$SYS.ACCOUNT.*.DISCONNECT");
    this.subscription = sub;
    void (async () => {
      for await (const msg of sub) {
        try {
          const event = disconnectSchema.parse(JSON.parse(decoder.decode(msg.data)));
          const userNkey = [event.client.nkey, event.client.user].find((id) => id && USER_NKEY.test(id));
          // Callout-issued users are reported by their JWT name: find them by server and client id.
          const keys = userNkey
            ? await this.kv.keys(`*.*.${userNkey}`)
            : await this.keysOfClient(event.server?.id, event.client.id);
          for await (const key of keys) {
            const parsed = parseKey(key);
            const entry = await this.kv.get(key);
            await this.kv.delete(key);
            if (!parsed || !entry || entry.operation !== "PUT") continue;
            const record = ConnectionRecordSchema.safeParse(JSON.parse(decoder.decode(entry.value)));
            if (record.success) this.events.closed?.({ ...record.data, ...parsed });
          }
        } catch (cause) {
          if (this.stopping) continue;
          this.logger.warn({ err: cause }, "Could not handle a disconnect advisory");
        }
      }
    })();
  }

  /** Keys of the live connections a server reports by client id (several only after a key reuse). */
  private async keysOfClient(serverId: string | undefined, clientId: number | undefined): Promise<string[]> {
    if (serverId === undefined || clientId === undefined) return [];
    const live = await this.list();
    return live
      .filter((connection) => connection.serverId === serverId && connection.clientId === clientId)
      .map((connection) =>
        connectionKey(connection.sessionKey, connection.scopeId ?? "", connection.userNkey),
      );
  }

  /** Stops following disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.subscription?.drain().catch(() => undefined);
  }
}
