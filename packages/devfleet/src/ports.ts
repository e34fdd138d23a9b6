import { createServer, type Server, Socket } from "node:net";

/** The only address test clusters listen on. */
export const LOOPBACK = "127.0.0.1";

/**
 * Ports this process has handed out. The kernel may give a just-released port
 * to the next bind on port 0, so without this two clusters starting at once
 * could be handed the same port before either server has bound it.
 */
const handedOut = new Set<number>();

function listen(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Returns `count` distinct free loopback ports: binds that many listeners on
 * port 0 at once, notes their ports and releases them. There is a window
 * between release and the server binding in which another process could take
 * a port; on a test machine that is rare, and a clash shows as a bind error in
 * the component's log.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = await listen();
      held.push(server);
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("listener has no port");
      if (handedOut.has(address.port)) continue;
      handedOut.add(address.port);
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(held.map(close));
  }
}

/** Lets a port be handed out again once the server that used it has stopped. */
export function releasePorts(ports: Iterable<number>): void {
  for (const port of ports) handedOut.delete(port);
}

/** One free loopback port; see {@link freePorts}. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await canConnect(port)) return;
    if (!isAlive()) throw new Error(`the process that should listen on port ${port} exited`);
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, LOOPBACK);
  });
}
