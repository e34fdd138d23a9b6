import { execFile, spawn } from "node:child_process";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: "Flotilla Test",
  GIT_AUTHOR_EMAIL: "test@flotilla.invalid",
  GIT_COMMITTER_NAME: "Flotilla Test",
  GIT_COMMITTER_EMAIL: "test@flotilla.invalid",
};

/** Files of one commit: path → content, or null to delete the path. */
export type FileChanges = Record<string, string | null>;

/** A repository the harness serves, with a private work tree to commit to it. */
export interface FixtureRepo {
  readonly name: string;
  /** The work tree commits are made in; `git push origin <branch>` from it publishes. */
  readonly workTree: string;
  /** The bare repository the server serves (its `hooks/` run on every push, as on a Git host). */
  readonly gitDir: string;
  /** Clone URL without credentials, e.g. http://127.0.0.1:PORT/web.git */
  readonly url: string;
  /** Commits `files` on `branch` (creating the branch from the default one if new) and returns the SHA. */
  commit(branch: string, files: FileChanges, message?: string): Promise<string>;
  /** The SHA `branch` points at on the server. */
  head(branch: string): Promise<string>;
}

/** A real Git smart-HTTP server: `git http-backend` behind node:http with basic auth. */
export interface GitServer {
  readonly baseUrl: string;
  readonly username: string;
  readonly password: string;
  /** Requests served so far, by path, for tests that check the network was (not) used. */
  readonly requests: string[];
  /**
   * The settings a hub or agent needs to reach this server: it speaks plain HTTP on loopback,
   * which both refuse unless told (`FLOTILLA_GIT_ALLOW_HTTP`, `FLOTILLA_GIT_ALLOWED_HOSTS`).
   */
  readonly clientEnv: Readonly<Record<string, string>>;
  /**
   * Creates a bare repo `<name>.git`. The first branch listed is created first; every other
   * branch starts from it, then gets its own files, so branches share history like develop/main.
   */
  createRepo(name: string, branches: Record<string, FileChanges>): Promise<FixtureRepo>;
  stop(): Promise<void>;
}

export interface GitServerOptions {
  username?: string;
  password?: string;
  /** Parent directory for the server's repositories and work trees. @default os.tmpdir() */
  dir?: string;
  /**
   * Loopback address to listen on. A test that must show 127.0.0.1 refused while the Git server
   * is allowed puts the server on another loopback address (all of 127.0.0.0/8 is local).
   * @default "127.0.0.1"
   */
  host?: string;
}

export async function startGitServer(options: GitServerOptions = {}): Promise<GitServer> {
  const root = await mkdtemp(join(options.dir ?? tmpdir(), "flotilla-git-"));
  const projects = join(root, "srv");
  await mkdir(projects);
  const username = options.username ?? "flotilla";
  const password = options.password ?? randomBytes(12).toString("hex");
  const expected = Buffer.from(`Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`);
  const requests: string[] = [];

  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const given = Buffer.from(req.headers.authorization ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="flotilla-test"' }).end("authentication required\n");
      return;
    }
    serveBackend(projects, username, req, res);
  });
  const host = options.host ?? "127.0.0.1";
  const port = await listen(server, host);
  const baseUrl = `http://${host}:${port}`;

  return {
    baseUrl,
    username,
    password,
    requests,
    clientEnv: { FLOTILLA_GIT_ALLOW_HTTP: "true", FLOTILLA_GIT_ALLOWED_HOSTS: host },
    createRepo: (name, branches) => createRepo(root, projects, baseUrl, name, branches),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address && typeof address === "object") resolve(address.port);
      else reject(new Error("git server has no port"));
    });
  });
}

/** Runs one CGI request through `git http-backend` and relays its response. */
function serveBackend(projects: string, user: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: projects,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: req.method ?? "GET",
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_USER: user,
    REMOTE_ADDR: req.socket.remoteAddress ?? "",
    // Protocol v2 is negotiated through this header; without it the backend speaks v0.
    GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
    HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"] ?? ""),
  };
  const backend = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
  req.pipe(backend.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  backend.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + 4));
  });
  let stderr = "";
  backend.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  backend.on("close", (code) => {
    if (!headersDone) {
      res.writeHead(500).end(`git http-backend failed (${code}): ${stderr}`);
      return;
    }
    res.end();
  });
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("git", args, { cwd, env: { ...process.env, ...GIT_IDENTITY } });
  return stdout.trim();
}

async function createRepo(
  root: string,
  projects: string,
  baseUrl: string,
  name: string,
  branches: Record<string, FileChanges>,
): Promise<FixtureRepo> {
  const bare = join(projects, `${name}.git`);
  const work = join(root, "work", name);
  const names = Object.keys(branches);
  const first = names[0];
  if (!first) throw new Error(`fixture repo ${name} needs at least one branch`);
  await run("git", ["init", "--quiet", "--bare", "--initial-branch", first, bare]);
  await mkdir(work, { recursive: true });
  await git(work, "init", "--quiet", "--initial-branch", first);
  await git(work, "remote", "add", "origin", bare);

  // Commits on one repo are serialized: they share a work tree.
  let queue: Promise<unknown> = Promise.resolve();
  const commit = (branch: string, files: FileChanges, message = `update ${branch}`): Promise<string> => {
    const next = queue.then(async () => {
      const exists = (await git(work, "branch", "--list", branch)) !== "";
      const hasCommits = await git(work, "rev-parse", "--verify", "--quiet", "HEAD").then(
        () => true,
        () => false,
      );
      if (exists) await git(work, "checkout", "--quiet", branch);
      else if (hasCommits) await git(work, "checkout", "--quiet", "-b", branch, first);
      for (const [path, content] of Object.entries(files)) {
        const target = join(work, path);
        if (content === null) await rm(target, { force: true, recursive: true });
        else {
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, content);
        }
      }
      await git(work, "add", "--all");
      await git(work, "commit", "--quiet", "--allow-empty", "-m", message);
      await git(work, "push", "--quiet", "origin", `${branch}:${branch}`);
      return git(work, "rev-parse", "HEAD");
    });
    queue = next.catch(() => undefined);
    return next;
  };

  for (const branch of names) await commit(branch, branches[branch] ?? {}, `create ${branch}`);
  return {
    name,
    workTree: work,
    gitDir: bare,
    url: `${baseUrl}/${name}.git`,
    commit,
    head: (branch) => git(bare, "rev-parse", `refs/heads/${branch}`),
  };
}
