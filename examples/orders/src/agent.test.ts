import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatOrder, readSeed, writeSeed } from "./agent.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "orders-agent-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("seed file", () => {
  it("is absent before the first run", async () => {
    expect(await readSeed(join(dir, "missing.seed"))).toBeUndefined();
  });

  it("round-trips, creating folders, readable only by the owner", async () => {
    const path = join(dir, "nested", "agent.seed");
    await writeSeed(path, "seed-value");
    expect(await readSeed(path)).toBe("seed-value");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it("treats an empty file as no seed and reports other read failures", async () => {
    const empty = join(dir, "empty.seed");
    await writeFile(empty, "\n");
    expect(await readSeed(empty)).toBeUndefined();
    await expect(readSeed(dir)).rejects.toThrow(/EISDIR/);
  });
});

describe("formatOrder", () => {
  it("shows id, quantity, item, author and time on one line", () => {
    expect(
      formatOrder({
        id: "01J0",
        item: "tea",
        quantity: 3,
        createdBy: "usr_1",
        createdAt: "2025-01-02T03:04:05.000Z",
      }),
    ).toBe("01J0  3 × tea  (by usr_1, 2025-01-02T03:04:05.000Z)");
  });
});
