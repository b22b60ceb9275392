/** The control plane's HTTP server: app, routes and the built-in portal. */
export { createHttpApp, type HttpAppOptions, MAX_REQUEST_BODY_BYTES } from "./app.js";
export type { HttpEnv } from "./env.js";
export { httpStatusFor } from "./errors.js";
export { type HttpServer, type HttpServerOptions, startHttpServer } from "./server.js";
