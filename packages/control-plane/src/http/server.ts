/** Serving the HTTP app with `@hono/node-server`. */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import type { HttpEnv } from "./env.js";

/** Where to listen. */
export type HttpServerOptions = {
  /** Default `127.0.0.1` (loopback only). */
  host?: string;
  /** Default `0` (any free port). */
  port?: number;
};

/** A listening HTTP server. */
export type HttpServer = {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Stops accepting requests, closes open connections and waits until the server is closed. */
  close(): Promise<void>;
};

function urlOf(info: AddressInfo): string {
  const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
  return `http://${host}:${info.port}`;
}

/** Starts serving `app`; resolves once the server listens. */
export function startHttpServer(app: Hono<HttpEnv>, options: HttpServerOptions = {}): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: app.fetch, hostname: options.host ?? "127.0.0.1", port: options.port ?? 0 },
      (info) => {
        server.off("error", reject);
        let closed: Promise<void> | undefined;
        resolve({
          url: urlOf(info),
          close: () => {
            closed ??= new Promise<void>((done, fail) => {
              server.close((error) => (error === undefined ? done() : fail(error)));
              if ("closeAllConnections" in server) server.closeAllConnections();
            });
            return closed;
          },
        });
      },
    );
    server.once("error", reject);
  });
}
