/**
 * The README's main job, as a user runs it: `flotilla up` starts a whole local fleet in the
 * background, `flotilla status` shows three Ready clusters, a release pushed to main rolls
 * through the prod waves, and `flotilla down` leaves no process behind.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isAlive } from "@flotilla/devfleet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
/** The command npm links at install, as the README's `npx flotilla` runs it. */
const FLOTILLA = fileURLToPath(new URL("../../../node_modules/.bin/flotilla", import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("flotilla up / status / demo commit / down", () => {
  let home: string;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const flotilla = async (...args: string[]): Promise<Result> => {
    try {
      const { stdout, stderr } = await run(FLOTILLA, args, { env, timeout: 600_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  };

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "flotilla-fleet-test-"));
    dir = join(home, "fleet");
    const { FLOTILLA_HUB: _h, FLOTILLA_TOKEN: _t, ...rest } = process.env;
    env = { ...rest, FLOTILLA_CONFIG: join(home, "config.yaml"), FLOTILLA_FLEET_DIR: dir };
  });

  afterAll(async () => {
    await flotilla("down", "--dir", dir);
    await rm(home, { recursive: true, force: true });
  });

  let pids: number[] = [];

  it("up starts the fleet in the background and configures the CLI", async () => {
    const up = await flotilla("up", "--dir", dir);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toContain("fleet: every cluster is Ready");
    expect(up.stdout).toContain("Flotilla local fleet is up.");
    expect(up.stdout).toMatch(/dashboard http:\/\/127\.0\.0\.1:\d+\/ui\/ \(log in with the token\)/);
    const record = JSON.parse(await readFile(join(dir, "fleet.json"), "utf8")) as { pid: number; pids: number[] };
    pids = [record.pid, ...record.pids];
    // supervisor, nats, redis, hub, 3 agents, and 5 processes per cluster
    expect(record.pids.length).toBeGreaterThanOrEqual(2 + 1 + 3 + 3 * 5);
    expect(await readFile(join(home, "config.yaml"), "utf8")).toMatch(/^# written by flotilla up/);

    // A second up finds the running fleet instead of starting another.
    const again = await flotilla("up", "--dir", dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already up");
  });

  it("status shows three Ready clusters", async () => {
    const status = await flotilla("status", "-o", "json");
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { fleet: { clusters: Record<string, number> } };
    expect(parsed.fleet.clusters).toMatchObject({ Ready: 3, total: 3 });
    const clusters = JSON.parse((await flotilla("cluster", "list", "-o", "json")).stdout) as {
      items: { name: string; labels: Record<string, string> }[];
    };
    expect(clusters.items.map((c) => c.name).sort()).toEqual(["dev-1", "prod-1", "prod-canary-1"]);
  });

  it("a release pushed to main rolls through canary, then the rest", async () => {
    const demo = await flotilla("demo", "commit", "--env", "prod", "--release", "v2", "--watch", "--dir", dir);
    expect(demo.stderr).toBe("");
    expect(demo.code).toBe(0);
    const id = /started rollout (\S+)/.exec(demo.stdout)?.[1];
    expect(id).toBeTruthy();
    const rollout = JSON.parse((await flotilla("rollout", "get", id as string, "-o", "json")).stdout) as {
      state: string;
      waves: { name: string; completedAtMs?: number; startedAtMs?: number }[];
    };
    expect(rollout.state).toBe("Succeeded");
    const [canary, rest] = rollout.waves;
    expect(canary?.name).toBe("canary");
    expect(rest?.name).toBe("rest");
    expect(rest?.startedAtMs).toBeGreaterThanOrEqual(canary?.completedAtMs ?? Number.POSITIVE_INFINITY);
  });

  it("down stops every process and removes the fleet directory", async () => {
    const down = await flotilla("down", "--dir", dir);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain("fleet stopped");
    expect(pids.filter(isAlive)).toEqual([]);
    const { stdout } = await run("ps", ["-eo", "args"]);
    expect(stdout.split("\n").filter((l) => l.includes(dir))).toEqual([]);
    await expect(readFile(join(dir, "fleet.json"))).rejects.toThrow(/ENOENT/);
  });
});
