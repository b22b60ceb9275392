/** The Hono environment of the control plane's HTTP app. */
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";

/** Bindings are absent when the app is called in-process (`app.request`). */
export type HttpEnv = { Bindings: Partial<HttpBindings> };

/** The remote address of the request's socket (`unknown` in-process). Proxy headers are not trusted. */
export function remoteAddress(c: Context<HttpEnv>): string {
  return c.env?.incoming?.socket?.remoteAddress ?? "unknown";
}
