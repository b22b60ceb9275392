/**
 * The jobs runtime's pipelined JetStream requests (`jobs/pipe.ts`) against a real nats-server:
 * publish acks and duplicates, direct gets by subject (found, wildcard, missing), refusals, no
 * responders, timeouts, deferred sends in order, and a closed connection.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetStreamPipe, PipeRequestError } from "../src/jobs/pipe.js";

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: server.url, inboxPrefix: "_INBOX.pipetest" });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PIPE", subjects: ["pipe.>"], allow_direct: true });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe("JetStreamPipe", () => {
  it("publishes with acks in order, de-duplicates by message id and reads the last message by subject", async () => {
    const pipe = new JetStreamPipe(nc);
    const acks = await Promise.all(
      ["one", "two", "three"].map((body, i) =>
        pipe.publish(`pipe.job.${i}.created`, body, { msgId: `job-${i}` }),
      ),
    );
    expect(acks.map((ack) => ack.stream)).toEqual(["PIPE", "PIPE", "PIPE"]);
    expect(acks.map((ack) => ack.seq)).toEqual([acks[0]!.seq, acks[0]!.seq + 1, acks[0]!.seq + 2]);
    const again = await pipe.publish("pipe.job.1.created", "two again", { msgId: "job-1" });
    expect(again).toEqual({ stream: "PIPE", seq: acks[1]!.seq, duplicate: true });

    const withHeaders = headers();
    withHeaders.set("request-id", "r1");
    await pipe.publish("pipe.job.1.started", "started", { headers: withHeaders, msgId: "job-1-started" });
    const last = await pipe.lastBySubject("PIPE", "pipe.job.1.*");
    expect(last && { subject: last.subject, body: text(last.data) }).toEqual({
      subject: "pipe.job.1.started",
      body: "started",
    });
    const created = await pipe.lastBySubject("PIPE", "pipe.job.1.created");
    expect(created?.seq).toBe(acks[1]!.seq);
    expect(await pipe.lastBySubject("PIPE", "pipe.job.404.*")).toBeNull();
  });

  it("fails a refused publish, a publish nobody stores and a request nobody answers in time", async () => {
    const pipe = new JetStreamPipe(nc, 300);
    const expected = headers();
    expected.set("Nats-Expected-Last-Subject-Sequence", "0");
    await pipe.publish("pipe.refused.x", "first");
    const refused = await pipe.publish("pipe.refused.x", "second", { headers: expected }).catch((e) => e);
    expect(refused).toBeInstanceOf(PipeRequestError);
    expect(refused).toMatchObject({ kind: "api", message: expect.stringMatching(/wrong last sequence/) });

    const unstored = await pipe.publish("nowhere.at.all", "x").catch((e) => e);
    expect(unstored).toMatchObject({ kind: "no_responders" });

    // A responder that never answers: the sweep fails the request after its timeout.
    const silent = nc.subscribe("pipe-silent.>", { callback: () => undefined });
    await nc.flush();
    const started = Date.now();
    const timedOut = await pipe.publish("pipe-silent.x", "x").catch((e) => e);
    expect(timedOut).toMatchObject({ kind: "timeout" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    silent.unsubscribe();
  });

  it("sends deferred work in the order it was queued, in one batch, and flushes on demand", async () => {
    const pipe = new JetStreamPipe(nc);
    const order: string[] = [];
    pipe.defer(() => order.push("a"));
    pipe.defer(() => {
      throw new Error("a closed connection: dropped");
    });
    pipe.defer(() => order.push("b"));
    expect(order).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(["a", "b"]);
    pipe.defer(() => order.push("c"));
    pipe.flush();
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("fails pending and later requests once the connection is closed", async () => {
    const own = await connect({ servers: server.url });
    const pipe = new JetStreamPipe(own, 10_000);
    const silent = own.subscribe("pipe-closed.>", { callback: () => undefined });
    await own.flush();
    const pending = pipe.publish("pipe-closed.x", "x").catch((e) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    silent.unsubscribe();
    await own.close();
    expect(await pending).toBeInstanceOf(PipeRequestError);
    await expect(pipe.publish("pipe.after.close", "x")).rejects.toThrow();
  });
});
