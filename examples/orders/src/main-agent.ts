#!/usr/bin/env node
/**
 * Runs the orders agent: `node dist/main-agent.js [TRELLIS_URL] [--seed-file PATH]`.
 *
 * - `TRELLIS_URL` (argument or environment): the control plane, e.g. `http://127.0.0.1:3000`.
 * - `--seed-file` or `ORDERS_AGENT_SEED_FILE`: where the session key seed is remembered
 *   (default `.trellis/orders-agent.seed`), so the next run reuses the approved session.
 *
 * Exit codes: 0 done, 1 a step failed, 2 bad arguments or environment.
 */
import { detachedLogin, printToStdout, runAgent } from "./agent.js";
import { agentConfigFrom } from "./config.js";

const USAGE =
  "usage: main-agent [TRELLIS_URL] [--seed-file PATH]  (or set TRELLIS_URL, ORDERS_AGENT_SEED_FILE)";

async function main(): Promise<number> {
  const config = agentConfigFrom(process.argv.slice(2), process.env);
  if (config.isErr()) {
    process.stderr.write(`main-agent: ${config.error.message}\n${USAGE}\n`);
    return 2;
  }
  try {
    await runAgent({ ...config.value, login: detachedLogin(printToStdout), print: printToStdout });
    return 0;
  } catch (error) {
    process.stderr.write(`main-agent: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main();
