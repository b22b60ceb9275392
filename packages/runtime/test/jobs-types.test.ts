/** Type-level checks of `service.jobs`: queues, payloads and results are inferred from the contract. */
import { defineServiceContract } from "@trellis/contracts";
import type { HandlerResult, JobRef, TrellisService } from "@trellis/runtime";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";

const contract = defineServiceContract(
  { schemas: { Resize: z.object({ width: z.int().default(100) }), Resized: z.object({ url: z.string() }) } },
  (ref) => ({
    id: "types.jobs@v1",
    displayName: "Typed jobs",
    description: "Job queues for type checks.",
    jobs: {
      resize: { payload: ref.schema("Resize"), result: ref.schema("Resized") },
      cleanup: { payload: ref.schema("Resize") },
    },
  }),
);

type Jobs = TrellisService<typeof contract>["jobs"];
type ResizeHandler = Parameters<Jobs["resize"]["handle"]>[0];

describe("service.jobs types", () => {
  it("has one member per queue", () => {
    expectTypeOf<keyof Jobs>().toEqualTypeOf<"resize" | "cleanup">();
  });

  it("takes the payload's input view at create and hands the output view to the handler", () => {
    expectTypeOf<Parameters<Jobs["resize"]["create"]>[0]>().toEqualTypeOf<{ width?: number | undefined }>();
    expectTypeOf<Parameters<ResizeHandler>[0]["job"]["payload"]>().toEqualTypeOf<{ width: number }>();
  });

  it("types the result of handlers and job refs", () => {
    expectTypeOf<ReturnType<ResizeHandler>>().toEqualTypeOf<HandlerResult<{ url: string }>>();
    expectTypeOf<ReturnType<Jobs["resize"]["ref"]>>().toEqualTypeOf<
      JobRef<{ width: number }, { url: string }>
    >();
    expectTypeOf<ReturnType<Jobs["cleanup"]["ref"]>>().toEqualTypeOf<JobRef<{ width: number }, unknown>>();
  });
});
