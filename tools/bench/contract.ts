/**
 * The contract both sides of the RPC benchmark share: one authenticated method with a small JSON body,
 * validated both ways.
 */
import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";

export const bench = defineServiceContract(
  {
    schemas: {
      Say: z.object({ text: z.string().min(1) }),
      Said: z.object({ text: z.string(), by: z.string() }),
    },
  },
  (ref) => ({
    id: "bench@v1",
    displayName: "Bench",
    description: "RPC benchmark echo service.",
    rpc: {
      "Bench.Echo": { version: "v1", input: ref.schema("Say"), output: ref.schema("Said") },
    },
  }),
);

/** The logical RPC method measured. */
export const METHOD = "Bench.Echo";

/** Subject of the raw NATS request/reply baseline. */
export const RAW_SUBJECT = "bench.raw.echo";

/** The request body both kinds send (and get echoed back, plus `by`). */
export const REQUEST_BODY = { text: "hello, trellis" } as const;

/** Parent → service messages over the IPC channel. */
export type ParentMessage = { type: "cpu"; id: number } | { type: "stop" };

/** Service → parent messages over the IPC channel. */
export type ChildMessage =
  | { type: "ready"; pid: number }
  | { type: "cpu"; id: number; user: number; system: number }
  | { type: "error"; message: string };
