export { type FileChanges, type FixtureRepo, type GitServer, type GitServerOptions, startGitServer } from "./git.js";
export { type NatsOptions, type NatsServer, startNats } from "./nats.js";
export { freePort, waitForPort } from "./ports.js";
export { type ServerProcess, startProcess } from "./process.js";
export { type RedisOptions, type RedisServer, startRedis } from "./redis.js";
export { DEFAULT_POLL_MS, DEFAULT_WAIT_MS, type Probe, until, waitsOf } from "./wait.js";
