import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandContext, type CommandModule } from "./context.js";
import { buildProgram, COMMAND_MODULES, run } from "./program.js";

let server: Server;
let hub: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.method === "DELETE" && req.url === "/v1/clusters/eu-1/registration-tokens") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ cluster: "eu-1", revoked: 2 }));
      return;
    }
    res.writeHead(req.url === "/v1/teams" ? 200 : 404, { "content-type": "application/json" });
    res.end(
      JSON.stringify(
        req.url === "/v1/teams"
          ? { items: [{ name: "web", description: "shop" }] }
          : { error: "not_found", message: `cluster "nope" does not exist` },
      ),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  hub = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function context(env: Record<string, string> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const ctx = new CommandContext(
    { stdout, stderr, stdin: new PassThrough() },
    { FLOTILLA_HUB: hub, HOME: "/nonexistent-home", ...env },
  );
  return { ctx, out: () => out, err: () => err };
}

describe("run", () => {
  it("prints tables by default and the API object with -o json", async () => {
    const c = context();
    expect(await run(["team", "list"], c.ctx)).toBe(0);
    expect(c.out()).toBe("NAME  DESCRIPTION  POLICY\nweb   shop         default\n");
    const j = context();
    expect(await run(["team", "list", "-o", "json"], j.ctx)).toBe(0);
    expect(JSON.parse(j.out())).toEqual({ items: [{ name: "web", description: "shop" }] });
  });

  it("API errors: one line on stderr, the exit code of the status (404: 5)", async () => {
    const c = context();
    expect(await run(["cluster", "get", "nope"], c.ctx)).toBe(5);
    expect(c.err()).toBe(
      `error: cluster "nope" does not exist (GET /v1/clusters/nope): run 'flotilla cluster list' to see registered clusters\n`,
    );
    expect(c.out()).toBe("");
  });

  it("a missing FLOTILLA_CONFIG file is a one-line settings error", async () => {
    const c = context({ FLOTILLA_CONFIG: "/nonexistent/flotilla.yaml" });
    expect(await run(["team", "list"], c.ctx)).toBe(1);
    expect(c.err()).toBe(
      "error: config file /nonexistent/flotilla.yaml: does not exist; fix or unset FLOTILLA_CONFIG\n",
    );
  });

  it("usage errors: one line pointing at the command's help, exit 1", async () => {
    const c = context();
    expect(await run(["cluster", "get"], c.ctx)).toBe(1);
    expect(c.err()).toBe("error: missing required argument 'name' (see 'flotilla cluster get --help')\n");
    const d = context();
    expect(await run(["rollout", "lsit"], d.ctx)).toBe(1);
    expect(d.err()).toBe("error: unknown command 'lsit' (Did you mean list?) (see 'flotilla rollout --help')\n");
  });

  it("--help exits 0 and lists the exit codes", async () => {
    const c = context();
    expect(await run(["--help"], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/^Exit codes:$/m);
    expect(c.out()).toMatch(/^ {2}2 {2}the hub could not be reached$/m);
    expect(c.out()).toMatch(/^ {2}5 {2}no such object \(404\)$/m);
  });

  it("refuses a delete without --yes when there is no terminal to ask, sending nothing", async () => {
    const c = context();
    expect(await run(["app", "delete", "web"], c.ctx)).toBe(1);
    expect(c.err()).toBe(
      "error: delete app/web?: not asked, stdin is not a terminal: pass --yes to delete without asking\n",
    );
  });

  it("cluster token --revoke drops the cluster's tokens through the API and mints nothing", async () => {
    const c = context();
    expect(await run(["cluster", "token", "eu-1", "--revoke"], c.ctx)).toBe(0);
    expect(c.out()).toBe("cluster/eu-1: 2 registration token(s) dropped\n");
    const bad = context();
    expect(await run(["cluster", "token", "eu-1", "--revoke", "--ttl", "1h"], bad.ctx)).toBe(1);
    expect(bad.err()).toContain("--ttl and --revoke do not go together");
  });

  it("deletes with --yes through the API, and a missing object exits 5", async () => {
    const c = context();
    expect(await run(["team", "delete", "nope", "--yes"], c.ctx)).toBe(5);
    expect(c.err()).toMatch(/^error: cluster "nope" does not exist \(DELETE \/v1\/teams\/nope\)/);
  });
});

describe("the command tree", () => {
  function leaves(cmd: Command): Command[] {
    return cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves);
  }

  it("gives every verb examples in its --help", () => {
    const c = context();
    const program = buildProgram(c.ctx);
    const missing: string[] = [];
    for (const verb of leaves(program)) {
      let text = "";
      verb.configureOutput({
        writeOut: (s) => {
          text += s;
        },
      });
      verb.outputHelp();
      if (!text.includes("Examples:\n  # ")) missing.push(verb.name());
    }
    expect(missing).toEqual([]);
    expect(leaves(program).length).toBeGreaterThan(25);
  });

  it("takes a module of verbs in one line", async () => {
    const extra: CommandModule = (program, ctx) => {
      program.command("greet").action(() => ctx.out("fleet up"));
    };
    const c = context();
    await buildProgram(c.ctx, [...COMMAND_MODULES, extra]).parseAsync(["greet"], { from: "user" });
    expect(c.out()).toBe("fleet up\n");
  });
});
