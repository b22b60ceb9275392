/**
 * Control-plane configuration: a JSONC file plus environment overrides, validated with zod. Every
 * error names the field (`nats.authCallout.sxSeedFile: Required`), and relative paths are resolved
 * against the config file's folder.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { type ParseError, parse as parseJsonc, printParseErrorCode } from "jsonc-parser";
import { z } from "zod";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const path = z.string().min(1, "must be a non-empty path");
const signingKey = z.object({
  nkey: z.string().regex(/^A[A-Z2-7]{55}$/, "must be an account public key (A…)"),
  signingSeedFile: path,
});

/** The validated control-plane configuration. */
export const ControlPlaneConfigSchema = z.object({
  nats: z.object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    authCallout: z.object({ issuer: signingKey, target: signingKey, sxSeedFile: path }),
    auth: z.object({ credsPath: path }),
    trellis: z.object({ credsPath: path }),
    system: z.object({ credsPath: path }),
    sentinelCredsPath: path,
    /** Servers handed to clients (default: `servers`). */
    clientServers: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  }),
  http: z
    .object({
      host: z.string().default("127.0.0.1"),
      port: z.number().int().min(0).max(65535).default(3000),
      /** Public origin used in links (default `http://<host>:<port>`). */
      publicOrigin: z.url().optional(),
    })
    .default({ host: "127.0.0.1", port: 3000 }),
  storage: z.object({ dbPath: path }),
  web: z.object({ origins: z.array(z.string().min(1)).default([]) }).default({ origins: [] }),
  ttlMs: z
    .object({
      sessions: z
        .number()
        .int()
        .positive()
        .default(24 * HOUR),
      natsJwt: z.number().int().positive().default(HOUR),
      oauth: z
        .number()
        .int()
        .positive()
        .default(5 * MINUTE),
      pendingAuth: z
        .number()
        .int()
        .positive()
        .default(5 * MINUTE),
      connections: z
        .number()
        .int()
        .positive()
        .default(2 * HOUR),
    })
    .default({
      sessions: 24 * HOUR,
      natsJwt: HOUR,
      oauth: 5 * MINUTE,
      pendingAuth: 5 * MINUTE,
      connections: 2 * HOUR,
    })
    .refine((ttl) => ttl.natsJwt < ttl.sessions, { message: "natsJwt must be shorter than sessions" }),
  /** Requests per minute per remote address on `/auth/*`. */
  httpRateLimit: z.number().int().positive().default(60),
  jetstream: z.object({ replicas: z.union([z.literal(1), z.literal(3)]).optional() }).default({}),
  /** The Jobs admin: how often the janitor expires jobs past their deadline (ms). */
  jobs: z
    .object({ janitorIntervalMs: z.number().int().min(100).default(30_000) })
    .default({ janitorIntervalMs: 30_000 }),
  auth: z
    .object({ passwordMinLength: z.number().int().min(8).default(12) })
    .default({ passwordMinLength: 12 }),
  /** File with the control plane's own session key seed (generated when missing). */
  sessionKeySeedFile: path.optional(),
});

/** The validated configuration. */
export type ControlPlaneConfig = z.infer<typeof ControlPlaneConfigSchema>;

/** The configuration could not be read or is invalid; `problems` name each field. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    message: string,
    /** One line per problem, `<field>: <what is wrong>`. */
    readonly problems: string[] = [],
  ) {
    super(problems.length > 0 ? `${message}\n${problems.map((p) => `  ${p}`).join("\n")}` : message);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Applies `TRELLIS_*` environment overrides onto the raw (unvalidated) config object. */
function applyEnv(raw: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out = structuredClone(raw);
  const section = (key: string): Record<string, unknown> => {
    const value = out[key];
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
    const created: Record<string, unknown> = {};
    out[key] = created;
    return created;
  };
  if (env.TRELLIS_NATS_SERVERS)
    section("nats").servers = env.TRELLIS_NATS_SERVERS.split(",").map((s) => s.trim());
  if (env.TRELLIS_HTTP_HOST) section("http").host = env.TRELLIS_HTTP_HOST;
  if (env.TRELLIS_HTTP_PORT) section("http").port = Number(env.TRELLIS_HTTP_PORT);
  if (env.TRELLIS_PUBLIC_ORIGIN) section("http").publicOrigin = env.TRELLIS_PUBLIC_ORIGIN;
  if (env.TRELLIS_DB_PATH) section("storage").dbPath = env.TRELLIS_DB_PATH;
  if (env.TRELLIS_WEB_ORIGINS)
    section("web").origins = env.TRELLIS_WEB_ORIGINS.split(",").map((s) => s.trim());
  if (env.TRELLIS_JOBS_JANITOR_INTERVAL_MS)
    section("jobs").janitorIntervalMs = Number(env.TRELLIS_JOBS_JANITOR_INTERVAL_MS);
  return out;
}

function resolvePaths(config: ControlPlaneConfig, base: string): ControlPlaneConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const { nats } = config;
  return {
    ...config,
    nats: {
      ...nats,
      authCallout: {
        issuer: { ...nats.authCallout.issuer, signingSeedFile: abs(nats.authCallout.issuer.signingSeedFile) },
        target: { ...nats.authCallout.target, signingSeedFile: abs(nats.authCallout.target.signingSeedFile) },
        sxSeedFile: abs(nats.authCallout.sxSeedFile),
      },
      auth: { credsPath: abs(nats.auth.credsPath) },
      trellis: { credsPath: abs(nats.trellis.credsPath) },
      system: { credsPath: abs(nats.system.credsPath) },
      sentinelCredsPath: abs(nats.sentinelCredsPath),
    },
    storage: { dbPath: config.storage.dbPath === ":memory:" ? ":memory:" : abs(config.storage.dbPath) },
    ...(config.sessionKeySeedFile && { sessionKeySeedFile: abs(config.sessionKeySeedFile) }),
  };
}

/** Validates a raw config object (after env overrides); relative paths resolve against `baseDir`. */
export function parseControlPlaneConfig(
  raw: unknown,
  options: { env?: Env; baseDir?: string } = {},
): ControlPlaneConfig {
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError("The configuration must be a JSON object");
  const withEnv = applyEnv(raw as Record<string, unknown>, options.env ?? {});
  const parsed = ControlPlaneConfigSchema.safeParse(withEnv);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new ConfigError("Invalid control-plane configuration", problems);
  }
  return resolvePaths(parsed.data, options.baseDir ?? process.cwd());
}

/** Reads a JSONC config file, applies `TRELLIS_*` overrides from `env` and validates it. */
export function loadControlPlaneConfig(file: string, env: Env = process.env): ControlPlaneConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new ConfigError(`Cannot read the configuration file '${file}': ${(cause as Error).message}`);
  }
  const errors: ParseError[] = [];
  const raw: unknown = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length > 0) {
    throw new ConfigError(
      `The configuration file '${file}' is not valid JSONC`,
      errors.map((e) => `offset ${e.offset}: ${printParseErrorCode(e.error)}`),
    );
  }
  return parseControlPlaneConfig(raw, { env, baseDir: dirname(resolve(file)) });
}

/** The public origin links point at. */
export function publicOrigin(config: ControlPlaneConfig): string {
  return config.http.publicOrigin ?? `http://${config.http.host}:${config.http.port}`;
}
