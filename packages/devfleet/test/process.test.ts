import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryPoint, isAlive, programEnv, startProcess, until } from "../src/index.js";

/** A node script that prints a line, forks a child that sleeps, and sleeps itself. */
const PARENT_OF_SLEEPER = `
const { spawn } = require("node:child_process");
const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
console.log("child " + child.pid);
setInterval(() => {}, 1000);
`;

describe("the process manager", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-process-test-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("logs output to its file and stops the whole process group, children included", async () => {
    const proc = await startProcess({
      name: "parent",
      command: process.execPath,
      args: ["-e", PARENT_OF_SLEEPER],
      logPath: join(dir, "parent.log"),
    });
    const line = await until("the child's pid in the log", async () => /child (\d+)/.exec(await proc.log())?.[1]);
    const child = Number(line);
    expect(isAlive(child)).toBe(true);
    expect(proc.alive()).toBe(true);
    await proc.stop();
    expect(proc.alive()).toBe(false);
    expect(proc.exitStatus?.signal).toBe("SIGTERM");
    await until("the forked child to be gone too", () => !isAlive(child));
  });

  it("freezes and thaws a process with signal(), and kill() ends it with SIGKILL", async () => {
    const proc = await startProcess({
      name: "ticker",
      command: process.execPath,
      args: ["-e", "let n = 0; setInterval(() => console.log(n++), 20)"],
      logPath: join(dir, "ticker.log"),
    });
    await until("a tick", async () => (await proc.log()).includes("1\n"));
    proc.signal("SIGSTOP");
    // A stopped process prints nothing: once a write in flight has landed, the log holds
    // still across several of its intervals.
    await new Promise((r) => setTimeout(r, 100));
    const frozen = await proc.log();
    await new Promise((r) => setTimeout(r, 200));
    expect(await proc.log()).toBe(frozen);
    proc.signal("SIGCONT");
    await until("a tick after the thaw", async () => (await proc.log()).length > frozen.length);
    await proc.kill();
    expect(proc.exitStatus?.signal).toBe("SIGKILL");
  });

  it("rejects a command that cannot be started", async () => {
    await expect(
      startProcess({ name: "missing", command: join(dir, "no-such-command"), logPath: join(dir, "missing.log") }),
    ).rejects.toThrow(/ENOENT/);
  });

  it("gives a program only PATH, HOME, TMPDIR and its settings", () => {
    process.env.FLOTILLA_LEAK_TEST = "from the shell";
    try {
      const env = programEnv({ FLOTILLA_LOG_LEVEL: "debug" });
      expect(env.FLOTILLA_LEAK_TEST).toBeUndefined();
      expect(env.FLOTILLA_LOG_LEVEL).toBe("debug");
      expect(env.PATH).toBe(process.env.PATH);
      expect(Object.keys(env).filter((k) => !["PATH", "HOME", "TMPDIR"].includes(k))).toEqual(["FLOTILLA_LOG_LEVEL"]);
    } finally {
      delete process.env.FLOTILLA_LEAK_TEST;
    }
  });

  it("finds the hub's and the agent's commands from their packages' bin", () => {
    expect(entryPoint("hub")).toMatch(/services\/hub\/bin\/flotilla-hub\.js$/);
    expect(entryPoint("agent")).toMatch(/agents\/kubernetes\/bin\/flotilla-agent\.js$/);
  });
});
