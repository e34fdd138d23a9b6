/**
 * @flotilla/test — starts the real servers Flotilla talks to (NATS, Redis, Git over HTTP,
 * Kubernetes API servers) on loopback ports for one test run, and always tears them down.
 */
export * from "./bin.js";
export * from "./harness/index.js";
export * from "./kube/index.js";
