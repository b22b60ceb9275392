export type { NatsServerHandle, StartNatsServerOptions } from "./nats-server.js";
export { findNatsServerBinary, startNatsServer } from "./nats-server.js";
export * from "./platform.js";
export * from "./portal.js";
