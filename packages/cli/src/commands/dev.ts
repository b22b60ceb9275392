/**
 * `trellis dev`: runs a development platform in a working folder (default `.trellis/`): the NATS
 * topology (generated once), nats-server in operator mode with the auth callout (JetStream data kept
 * in the folder), and the control plane on a SQLite file in the folder, with a local admin whose
 * password is generated once and kept there. Ctrl-C stops everything.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "@commander-js/extra-typings";
import {
  type ControlPlane,
  freeLoopbackPort,
  generateTopology,
  loadControlPlaneConfig,
  type NatsServerProcess,
  readTopology,
  spawnNatsServer,
  startControlPlane,
  topologyFiles,
  writeControlPlaneConfig,
  writeTopology,
} from "@trellis/control-plane";
import { destination, pino } from "pino";
import { z } from "zod";
import type { CommandContext } from "../context.js";
import { CliError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";

const devAdminSchema = z.object({ username: z.string().min(1), password: z.string().min(12) });

/** The dev admin's credentials: read from the folder, or generated once and saved (mode 0600). */
function devAdmin(dir: string): { username: string; password: string; file: string } {
  const file = join(dir, "dev-admin.json");
  if (existsSync(file)) {
    const parsed = devAdminSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (!parsed.success) {
      throw new CliError(
        "invalid-dev-admin",
        `'${file}' is not a valid dev admin file; delete it to generate a new one`,
      );
    }
    return { ...parsed.data, file };
  }
  const admin = { username: "admin", password: randomBytes(18).toString("base64url") };
  writeFileSync(file, `${JSON.stringify(admin, null, 2)}\n`, { mode: 0o600 });
  return { ...admin, file };
}

function parsePort(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError("invalid-option", `${name} must be a port number (0–65535), got '${value}'`);
  }
  return port;
}

/** Adds `dev` to `program`. */
export function registerDevCommand(program: Command, context: CommandContext): void {
  program
    .command("dev")
    .description("run a development platform (nats-server + control plane) until Ctrl-C")
    .option("--dir <dir>", "working folder for topology, data and logs", ".trellis")
    .option("--nats-port <port>", "NATS client port on 127.0.0.1", "4222")
    .option("--http-port <port>", "control-plane HTTP port on 127.0.0.1", "3000")
    .action(async (options) => {
      const dir = resolve(options.dir);
      const natsPort = parsePort(options.natsPort, "--nats-port");
      const httpPort = parsePort(options.httpPort, "--http-port");
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Progress lines go to stderr in text mode; json mode prints only the final result object.
      const say = (line: string) => {
        const output = context.output();
        if (output.format === "text") output.report({ notes: [line], json: null });
      };

      const files = topologyFiles(dir);
      const topology = existsSync(files.manifest) ? await readTopology(dir) : await generateTopology();
      if (!existsSync(files.manifest)) {
        await writeTopology(dir, topology);
        say(`Generated a NATS topology in ${dir}`);
      }
      let nats: NatsServerProcess | undefined;
      let controlPlane: ControlPlane | undefined;
      const stop = async () => {
        await controlPlane?.stop().catch(() => undefined);
        await nats?.stop().catch(() => undefined);
      };
      try {
        // Port 0 means "any free port" (nats-server itself would read it as its default, 4222).
        const port = natsPort === 0 ? await freeLoopbackPort() : natsPort;
        nats = await spawnNatsServer({ configFile: files.natsConf, port, storeDir: join(dir, "jetstream") });
        const { path } = await writeControlPlaneConfig(dir, topology, {
          natsUrl: nats.url,
          httpPort,
          dbPath: join(dir, "trellis.sqlite"),
        });
        const config = {
          ...loadControlPlaneConfig(path),
          sessionKeySeedFile: join(dir, "control-plane.seed"),
        };
        const admin = devAdmin(dir);
        // Logs go to stderr: stdout carries only the command's result.
        const logger = pino({ level: process.env.PINO_LEVEL ?? "info" }, destination(2));
        controlPlane = await startControlPlane(config, {
          logger,
          devAdmin: { username: admin.username, password: admin.password },
        });
        context.output().report({
          text: [
            `Trellis is running.`,
            `  control plane: ${controlPlane.url}`,
            `  NATS:          ${nats.url}`,
            `  admin:         ${admin.username} (password in ${admin.file})`,
            `Press Ctrl-C to stop.`,
          ],
          json: {
            url: controlPlane.url,
            natsUrl: nats.url,
            admin: admin.username,
            adminFile: admin.file,
            dir,
          },
        });
      } catch (error) {
        await stop();
        throw error instanceof CliError
          ? error
          : new CliError("dev-failed", `could not start the platform: ${String(error)}`);
      }
      await new Promise<void>((done) => {
        let stopping = false;
        const onSignal = () => {
          if (stopping) return;
          stopping = true;
          say("Stopping…");
          void stop().finally(done);
        };
        // `on`, not `once`: a second Ctrl-C while stopping must not kill the process mid-way.
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        void nats?.exited.then(() => {
          if (stopping) return;
          stopping = true;
          say("nats-server exited unexpectedly; stopping the control plane.");
          context.setExitCode(ExitCode.Failed);
          void stop().finally(done);
        });
      });
    });
}
