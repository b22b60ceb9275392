/** Structured logging with pino (runtime spec §6.4). */
import { type Logger, pino } from "pino";

export type { Logger } from "pino";

/** Logging setting of a participant: `false` silences it, a logger replaces the default. */
export type LoggerOption = Logger | false | undefined;

/** The logger a participant uses: the given one, a silent one, or pino at `PINO_LEVEL` (default `info`). */
export function resolveLogger(option: LoggerOption, bindings: Record<string, unknown> = {}): Logger {
  if (option === false) return pino({ level: "silent" });
  if (option) return option.child(bindings);
  return pino({
    level: process.env.PINO_LEVEL ?? "info",
    base: { library: "@trellis/runtime", ...bindings },
  });
}
