/**
 * `trellis dev`: runs a development platform in a working folder (default `.trellis/`): the NATS
 * topology (generated once), nats-server in operator mode with the auth callout (JetStream data kept
 * in the folder), the control plane on a SQLite file in the folder with a local admin whose password
 * is generated once and kept there, and the given services (default: the repository's example), each
 * deployed in `mutable-dev` mode with an instance whose seed is kept in the folder. It signs the local
 * CLI in as the admin, prints the URLs, optionally runs the services' demos, and runs until Ctrl-C,
 * which stops the services, then the control plane, then nats-server, by PID.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "@commander-js/extra-typings";
import type { ContractManifest } from "@trellis/contracts";
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
import { describeExit, type RunningChild, startChild } from "../dev/child-process.js";
import { runServiceDemo } from "../dev/demo.js";
import {
  type DevDeployment,
  type DevServiceSpec,
  ensureDeployment,
  grantCapabilities,
  instanceSeed,
  loadServiceContract,
  readServiceSpec,
} from "../dev/services.js";
import { CliError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { loginWithPassword } from "../session/login.js";

const devAdminSchema = z.object({ username: z.string().min(1), password: z.string().min(12) });

/** The portal's sign-in page. */
const PORTAL_PATH = "/_trellis/portal/users/login";
/** How long a service may take from spawn to its first connection. */
const SERVICE_READY_MS = 60_000;
/** The example `trellis dev` runs when no `--service` is given (in a repository checkout). */
const EXAMPLE_DIR = fileURLToPath(new URL("../../../../examples/orders", import.meta.url));
/** The signals that stop `trellis dev`. */
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

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

/** A service to run: its declaration and contract. */
interface DevService {
  spec: DevServiceSpec;
  manifest: ContractManifest;
}

/** A running service. */
interface RunningService extends DevDeployment {
  name: string;
  child: RunningChild;
}

/** Thrown between start-up steps once a signal asked `trellis dev` to stop. */
class Interrupted extends Error {}

/**
 * Resolves once the instance has a connection opened after `since`; rejects if the child exits first,
 * if it is not connected within {@link SERVICE_READY_MS}, or when `interrupt` is aborted.
 */
async function waitUntilConnected(
  controlPlane: ControlPlane,
  service: { name: string; instanceKey: string; child: RunningChild },
  since: Date,
  interrupt: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + SERVICE_READY_MS;
  const failed = (why: string) =>
    new CliError("service-failed", `service '${service.name}' (pid ${service.child.pid}) ${why}`, {
      exitCode: ExitCode.Failed,
      lines: ["its last output:", ...service.child.lastLines().map((line) => `  ${line}`)],
    });
  for (;;) {
    if (interrupt.aborted) throw new Interrupted();
    if (service.child.hasExited()) {
      throw failed(`${describeExit(await service.child.exited)} before it was ready`);
    }
    const connections = await controlPlane.context.connections.list(service.instanceKey);
    if (connections.some((connection) => new Date(connection.connectedAt) >= since)) return;
    if (Date.now() > deadline) throw failed(`did not connect within ${SERVICE_READY_MS / 1000} s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** Adds `dev` to `program`. */
export function registerDevCommand(program: Command, context: CommandContext): void {
  program
    .command("dev")
    .description(
      "run a development platform (nats-server, control plane, services) until Ctrl-C; signs the CLI in as its admin",
    )
    .option("--dir <dir>", "working folder for topology, data, seeds and the admin password", ".trellis")
    .option("--port <port>", "control-plane HTTP port on 127.0.0.1 (0: any free port)", "3000")
    .option(
      "--service <dir>",
      'a service package folder to deploy and run (repeatable; its package.json declares "trellis": {"service": …}); default: the example',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--no-login", "do not sign the local CLI in as the dev admin")
    .option("--demo", "run the services' scripted demos once everything is up")
    .action(async (options) => {
      const dir = resolve(options.dir);
      const httpPort = parsePort(options.port, "--port");
      // Progress lines go to stderr in text mode; json mode prints only result objects.
      const say = (line: string) => {
        const output = context.output();
        if (output.format === "text") output.report({ notes: [line], json: null });
      };
      const stderr = (text: string) => {
        process.stderr.write(text);
      };

      const serviceDirs =
        options.service.length > 0 ? options.service : existsSync(EXAMPLE_DIR) ? [EXAMPLE_DIR] : [];
      const services: DevService[] = [];
      for (const serviceDir of serviceDirs) {
        const spec = readServiceSpec(serviceDir);
        if (services.some((service) => service.spec.name === spec.name)) {
          throw new CliError("invalid-service", `two services are named '${spec.name}'`);
        }
        services.push({ spec, manifest: await loadServiceContract(spec) });
      }
      if (options.demo && !services.some((service) => service.spec.demo !== undefined)) {
        throw new CliError("invalid-option", "--demo: none of the services has a demo");
      }

      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const admin = devAdmin(dir);
      // Signals are handled from here on, so a Ctrl-C during start-up also stops what has started.
      // `on`, not `once`: a second Ctrl-C while stopping must not kill the process mid-way.
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      for (const signal of SIGNALS) process.on(signal, onSignal);
      const checkInterrupt = () => {
        if (interrupt.signal.aborted) throw new Interrupted();
      };

      let nats: NatsServerProcess | undefined;
      let controlPlane: ControlPlane | undefined;
      const running: RunningService[] = [];
      const stop = async () => {
        await Promise.all(running.map((service) => service.child.stop().catch(() => undefined)));
        await controlPlane?.stop().catch(() => undefined);
        await nats?.stop().catch(() => undefined);
      };
      try {
        const files = topologyFiles(dir);
        const topology = existsSync(files.manifest) ? await readTopology(dir) : await generateTopology();
        if (!existsSync(files.manifest)) {
          await writeTopology(dir, topology);
          say(`Generated a NATS topology in ${dir}`);
        }
        // Port 0 is "any free port" for HTTP; nats-server would read 0 as its default, 4222.
        nats = await spawnNatsServer({
          configFile: files.natsConf,
          port: await freeLoopbackPort(),
          storeDir: join(dir, "jetstream"),
          detached: true,
        });
        checkInterrupt();
        const { path } = await writeControlPlaneConfig(dir, topology, {
          natsUrl: nats.url,
          httpPort,
          dbPath: join(dir, "trellis.sqlite"),
        });
        const config = {
          ...loadControlPlaneConfig(path),
          sessionKeySeedFile: join(dir, "control-plane.seed"),
        };
        // Logs go to stderr: stdout carries only the command's results.
        const logger = pino({ level: process.env.PINO_LEVEL ?? "info" }, destination(2));
        const platform = await startControlPlane(config, {
          logger,
          devAdmin: { username: admin.username, password: admin.password },
        });
        controlPlane = platform;
        checkInterrupt();
        const { store } = platform.context;

        for (const { spec, manifest } of services) {
          // The dev admin may use every service the platform runs.
          grantCapabilities(store, admin.username, Object.keys(manifest.capabilities ?? {}));
          const seed = instanceSeed(dir, spec.name);
          const deployment = ensureDeployment(store, spec.name, manifest, seed);
          const since = new Date(Date.now() - 1_000);
          const child = await startChild({
            label: spec.name,
            command: process.execPath,
            args: [spec.main],
            cwd: spec.dir,
            env: { TRELLIS_URL: platform.url, TRELLIS_SESSION_KEY_SEED: seed },
            write: stderr,
          });
          const service = { ...deployment, name: spec.name, child };
          running.push(service);
          say(`Started service '${spec.name}' (pid ${child.pid}); waiting for it to connect…`);
          await waitUntilConnected(platform, service, since, interrupt.signal);
        }

        let signedIn: string | undefined;
        if (options.login) {
          const login = await loginWithPassword({
            trellisUrl: platform.url,
            username: admin.username,
            password: admin.password,
          }).then(
            (result) => result,
            (error: unknown) => {
              say(`Could not sign the CLI in as ${admin.username}: ${String(error)}`);
              return undefined;
            },
          );
          signedIn = login?.file;
        }
        checkInterrupt();

        const portal = `${platform.url}${PORTAL_PATH}`;
        const metrics = `${platform.url}/metrics`;
        context.output().report({
          text: [
            "Trellis is running.",
            `  API (control plane): ${platform.url}`,
            `  portal:              ${portal}`,
            `  metrics:             ${metrics}`,
            `  NATS:                ${nats.url}`,
            ...running.map(
              (service) =>
                `  service ${service.name}: pid ${service.child.pid}, deployment '${service.deploymentId}' (mutable-dev), instance ${service.instanceId}`,
            ),
            `Log in as '${admin.username}' with the password in ${admin.file}.`,
            signedIn === undefined
              ? `Sign the CLI in: trellis login ${platform.url}`
              : `The CLI is signed in as '${admin.username}': try \`trellis whoami\` (\`npm run trellis -- whoami\` in a checkout).`,
            "Press Ctrl-C to stop.",
          ],
          json: {
            url: platform.url,
            portalUrl: portal,
            metricsUrl: metrics,
            natsUrl: nats.url,
            admin: admin.username,
            adminFile: admin.file,
            dir,
            pid: process.pid,
            natsPid: nats.pid,
            services: running.map((service) => ({
              name: service.name,
              pid: service.child.pid,
              deploymentId: service.deploymentId,
              instanceId: service.instanceId,
            })),
            cliSession: signedIn ?? null,
          },
        });
      } catch (error) {
        await stop();
        // Interrupted during start-up: everything started is stopped, which is what was asked.
        if (interrupt.signal.aborted) {
          say("Stopped.");
          return;
        }
        throw error instanceof CliError
          ? error
          : new CliError("dev-failed", `could not start the platform: ${String(error)}`, {
              exitCode: ExitCode.Failed,
            });
      }

      const natsServer = nats;
      let natsExit: number | null | undefined;
      void natsServer.exited.then((code) => {
        natsExit = code;
        interrupt.abort();
      });
      for (const service of running) {
        void service.child.exited.then((exit) => {
          if (interrupt.signal.aborted) return;
          // The platform keeps running: the service's own output (above) says why it ended.
          say(`Service '${service.name}' (pid ${service.child.pid}) ${describeExit(exit)}.`);
          if (exit.code !== 0) context.setExitCode(ExitCode.Failed);
        });
      }
      if (options.demo) void runDemos(context, services, controlPlane.url, admin, interrupt.signal);

      if (!interrupt.signal.aborted) {
        await new Promise((done) => interrupt.signal.addEventListener("abort", done, { once: true }));
      }
      if (natsExit !== undefined) {
        context.setExitCode(ExitCode.Failed);
        context
          .output()
          .error(
            new CliError(
              "nats-exited",
              `nats-server (pid ${natsServer.pid}) exited unexpectedly with code ${natsExit}; stopping everything`,
              { exitCode: ExitCode.Failed },
            ),
          );
      } else {
        say("Stopping…");
      }
      await stop();
    });
}

/** Runs each service's demo once; a failing demo is reported and the platform keeps running. */
async function runDemos(
  context: CommandContext,
  services: readonly DevService[],
  trellisUrl: string,
  admin: { username: string; password: string },
  interrupt: AbortSignal,
): Promise<void> {
  const output = context.output();
  // In json mode the demo's lines go to stderr and one result object per demo to stdout.
  const print = (line: string) => {
    if (output.format === "text") process.stdout.write(`${line}\n`);
    else process.stderr.write(`${line}\n`);
  };
  for (const { spec } of services) {
    if (spec.demo === undefined || interrupt.aborted) continue;
    print(`\nDemo of '${spec.name}':`);
    try {
      const result = await runServiceDemo({ ...spec, demo: spec.demo }, trellisUrl, admin, print);
      if (output.format === "json") output.report({ json: { demo: spec.name, ok: true, result } });
    } catch (error) {
      if (interrupt.aborted) return;
      const message = error instanceof Error ? error.message : String(error);
      context.setExitCode(ExitCode.Failed);
      if (output.format === "json") output.report({ json: { demo: spec.name, ok: false, error: message } });
      else print(`Demo of '${spec.name}' failed: ${message}`);
    }
  }
}
