/**
 * Auth benchmark, the entry point: callout connects per second and `Auth.Requests.Validate` latency,
 * against the real stack of `startPlatform()` (nats-server in operator mode with the auth callout, the
 * control plane in-process on a temp SQLite file). The measuring is in `auth-run.ts`; see there.
 *
 * Run from the repository root: `npm run bench:auth` (= `tsx tools/bench/auth.ts`).
 *
 * Why a launcher: `tools/bench/tsconfig.json` maps the runtime packages to their sources but not
 * `@trellis/control-plane` / `@trellis/testing`, which would then load from their built `dist/`
 * (stale or missing on a fresh clone, and a second copy of the runtime next to the sources). This
 * file writes a temporary tsconfig that extends the bench one and maps those two as well, and runs
 * `auth-run.ts` under it in a child process (`node --import tsx`, `TSX_TSCONFIG_PATH`). No build is
 * needed.
 *
 * Environment: everything is passed on to `auth-run.ts` (BENCH_WARMUP_MS, BENCH_DURATION_MS,
 * BENCH_CONNECT_CONCURRENCY, BENCH_VALIDATE_CONCURRENCY, BENCH_JSON); BENCH_NODE_ARGS adds node
 * flags to the child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 * SIGINT/SIGTERM are forwarded to the child, which stops the control plane and nats-server.
 */
import { fork } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");

/** Every `@trellis/*` import the platform harness reaches, mapped to its source entry. */
const SOURCES: Record<string, string> = {
  "@trellis/result": "packages/result/src/index.ts",
  "@trellis/contracts": "packages/contracts/src/index.ts",
  "@trellis/runtime/auth": "packages/runtime/src/auth/index.ts",
  "@trellis/runtime": "packages/runtime/src/index.ts",
  "@trellis/control-plane": "packages/control-plane/src/index.ts",
  "@trellis/testing": "packages/testing/src/index.ts",
  "@trellis/builtin-contracts": "contracts/src/index.ts",
};

const configDir = mkdtempSync(join(tmpdir(), "trellis-bench-auth-"));
const tsconfig = join(configDir, "tsconfig.json");
writeFileSync(
  tsconfig,
  `${JSON.stringify(
    {
      extends: join(here, "tsconfig.json"),
      compilerOptions: {
        paths: Object.fromEntries(
          Object.entries(SOURCES).map(([name, path]) => [name, [join(repoRoot, path)]]),
        ),
      },
      include: [join(here, "auth*.ts")],
    },
    null,
    2,
  )}\n`,
);

const removeConfig = () => rmSync(configDir, { recursive: true, force: true });
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
const child = fork(join(here, "auth-run.ts"), process.argv.slice(2), {
  cwd: repoRoot,
  execArgv: ["--import", "tsx", ...nodeArgs],
  env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig },
  stdio: "inherit",
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // A terminal's Ctrl-C reaches the child too (same process group); forwarding covers `kill <pid>`.
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}

child.once("error", (err) => {
  console.error("could not start the auth benchmark:", err);
  removeConfig();
  process.exitCode = 1;
});
child.once("exit", (code, signal) => {
  removeConfig();
  process.exitCode = code ?? (signal === null ? 1 : 130);
});
