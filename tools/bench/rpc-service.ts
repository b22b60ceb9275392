/**
 * The service side of `rpc.ts`, run in its own process (forked by it): a raw NATS responder and a
 * Trellis `RpcServer` for the same echo, on one connection each. Talks to the parent over IPC only:
 * "ready" once both subscriptions reached the server, its own `process.cpuUsage()` on request.
 *
 * Usage (by rpc.ts): rpc-service.ts <nats-url> <caller-session-key>
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Result } from "@trellis/result";
import {
  InMemorySessionAuthority,
  ProofCallerAuthenticator,
  RpcServer,
  resolveLogger,
  SchemaSet,
} from "@trellis/runtime";
import { bench, type ChildMessage, METHOD, type ParentMessage, RAW_SUBJECT } from "./contract.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function send(message: ChildMessage): void {
  process.send?.(message);
}

function startRawResponder(nc: NatsConnection): void {
  const sub = nc.subscribe(RAW_SUBJECT);
  void (async () => {
    for await (const msg of sub) {
      const input = JSON.parse(decoder.decode(msg.data)) as { text: string };
      msg.respond(encoder.encode(JSON.stringify({ text: input.text, by: "raw" })));
    }
  })();
}

function startTrellis(nc: NatsConnection, callerKey: string): RpcServer {
  const authority = new InMemorySessionAuthority();
  authority.register(callerKey, {
    caller: { type: "user", id: "usr_bench", capabilities: [] },
    inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}`,
  });
  const server = new RpcServer({
    nc,
    contract: bench,
    schemas: SchemaSet.of(bench.CONTRACT),
    authenticator: new ProofCallerAuthenticator({ authority }),
    serviceName: "bench",
    logger: resolveLogger(false),
  });
  server.mount(
    METHOD,
    ({ input, context }) => Result.ok({ text: (input as { text: string }).text, by: context.caller.id }),
    {},
  );
  return server;
}

async function main(): Promise<void> {
  const [url, callerKey] = process.argv.slice(2);
  if (!url || !callerKey || !process.send) {
    throw new Error("usage: forked by rpc.ts with <nats-url> <caller-session-key> and an IPC channel");
  }
  const rawConn = await connect({ servers: url, name: "bench-raw-responder" });
  const trellisConn = await connect({ servers: url, name: "bench-trellis-service" });
  startRawResponder(rawConn);
  const server = startTrellis(trellisConn, callerKey);
  await Promise.all([rawConn.flush(), trellisConn.flush()]);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await server.stop().catch(() => undefined);
    await Promise.all([rawConn.close(), trellisConn.close()]).catch(() => undefined);
    process.exit(code);
  };
  process.on("message", (message: ParentMessage) => {
    if (message.type === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", id: message.id, user, system });
    } else if (message.type === "stop") {
      void stop(0);
    }
  });
  process.once("SIGTERM", () => void stop(0));
  // The parent went away (crash, SIGKILL): do not linger.
  process.on("disconnect", () => void stop(0));
  send({ type: "ready", pid: process.pid });
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  send({ type: "error", message });
  console.error(message);
  process.exit(1);
});
