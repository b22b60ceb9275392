/**
 * `trellis dev --demo`: runs a service's scripted demo (its `demo` module's `runDemo`) against the
 * running platform, completing the demo's sign-in over HTTP as the dev admin.
 */
import { pathToFileURL } from "node:url";
import type { AuthRequiredInfo } from "@trellis/runtime";
import { CliError } from "../errors.js";
import { completeWithPassword } from "../session/login.js";
import type { DevServiceSpec } from "./services.js";

/** What a demo module's `runDemo` is called with. */
export interface RunDemoOptions {
  trellisUrl: string;
  /** Completes the demo's sign-in; resolves once it is approved. */
  login: (info: AuthRequiredInfo) => Promise<void>;
  /** Where the demo prints, one line per call. */
  output: (line: string) => void;
}

type RunDemo = (options: RunDemoOptions) => Promise<unknown>;

/** Loads `runDemo` from the spec's demo module. */
async function loadRunDemo(spec: DevServiceSpec & { demo: string }): Promise<RunDemo> {
  const module: Record<string, unknown> = await import(pathToFileURL(spec.demo).href);
  const runDemo = module.runDemo;
  if (typeof runDemo !== "function") {
    throw new CliError("invalid-service", `service '${spec.name}': '${spec.demo}' does not export runDemo`);
  }
  return (options) => Promise.resolve(runDemo(options));
}

/** Runs the demo of `spec` signed in as `admin`; returns what `runDemo` resolved to. */
export async function runServiceDemo(
  spec: DevServiceSpec & { demo: string },
  trellisUrl: string,
  admin: { username: string; password: string },
  output: (line: string) => void,
): Promise<unknown> {
  const runDemo = await loadRunDemo(spec);
  return runDemo({
    trellisUrl,
    login: (info) => completeWithPassword(info, admin.username, admin.password),
    output,
  });
}
