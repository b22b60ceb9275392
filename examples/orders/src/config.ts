/**
 * Configuration of the example's entry points from arguments and environment, with a clear message
 * for everything missing or malformed.
 */
import { parseArgs } from "node:util";
import { Result } from "@trellis/result";

/** Arguments or environment the entry point cannot run with; `message` says what to fix. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** What `main-service` runs with. */
export interface ServiceConfig {
  /** Control plane base URL (`TRELLIS_URL`). */
  trellisUrl: string;
  /** The instance's session key seed (`TRELLIS_SESSION_KEY_SEED`), printed once by provisioning. */
  sessionKeySeed: string;
  /** Service name (`TRELLIS_SERVICE_NAME`, default `orders`). */
  name: string;
}

/** What `main-agent` runs with. */
export interface AgentConfig {
  /** Control plane base URL. */
  trellisUrl: string;
  /** Where the agent remembers its session key seed. */
  seedFile: string;
}

/** Where the agent remembers its seed unless told otherwise. */
export const DEFAULT_AGENT_SEED_FILE = ".trellis/orders-agent.seed";

function checkUrl(url: string): Result<string, ConfigError> {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return Result.err(new ConfigError(`TRELLIS_URL '${url}' must be an http(s) URL`));
    }
    return Result.ok(url);
  } catch {
    return Result.err(new ConfigError(`TRELLIS_URL '${url}' is not a URL`));
  }
}

/** Reads `TRELLIS_URL`, `TRELLIS_SESSION_KEY_SEED` and `TRELLIS_SERVICE_NAME`. */
export function serviceConfigFrom(env: NodeJS.ProcessEnv): Result<ServiceConfig, ConfigError> {
  const missing = ["TRELLIS_URL", "TRELLIS_SESSION_KEY_SEED"].filter((name) => !env[name]?.trim());
  if (missing.length > 0) {
    return Result.err(
      new ConfigError(
        `${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} not set (provision an instance ` +
          "with Auth.ServiceInstances.Provision to get a seed; TRELLIS_URL is the control plane's URL)",
      ),
    );
  }
  const name = env.TRELLIS_SERVICE_NAME?.trim() || "orders";
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
    return Result.err(new ConfigError(`TRELLIS_SERVICE_NAME '${name}' must be letters, digits, '-' or '_'`));
  }
  return checkUrl((env.TRELLIS_URL as string).trim()).map((trellisUrl) => ({
    trellisUrl,
    sessionKeySeed: (env.TRELLIS_SESSION_KEY_SEED as string).trim(),
    name,
  }));
}

/** Reads `[TRELLIS_URL] [--seed-file PATH]`, falling back to `TRELLIS_URL` and `ORDERS_AGENT_SEED_FILE`. */
export function agentConfigFrom(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Result<AgentConfig, ConfigError> {
  let parsed: { values: { "seed-file"?: string | undefined }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { "seed-file": { type: "string" } },
    });
  } catch (error) {
    return Result.err(new ConfigError((error as Error).message));
  }
  if (parsed.positionals.length > 1) {
    return Result.err(new ConfigError(`unexpected arguments: ${parsed.positionals.slice(1).join(" ")}`));
  }
  const url = parsed.positionals[0] ?? env.TRELLIS_URL?.trim();
  if (!url) {
    return Result.err(
      new ConfigError("TRELLIS_URL is not set (pass it as the first argument or in the environment)"),
    );
  }
  const seedFile =
    parsed.values["seed-file"] ?? (env.ORDERS_AGENT_SEED_FILE?.trim() || DEFAULT_AGENT_SEED_FILE);
  return checkUrl(url).map((trellisUrl) => ({ trellisUrl, seedFile }));
}
