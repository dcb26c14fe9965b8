// Cancelling a running setup: Ctrl-C in a real terminal during a spinner, SIGTERM and a double
// SIGINT while a command runs (tier 2's systemctl). Every cancel rolls back and leaves no process behind.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { CLI, createSandbox, REPO_ROOT, runningText, type Sandbox } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { startStallingRedis } from "./helpers/stalling-redis.ts";
import { startTmux } from "./helpers/tmux.ts";
import { snapshotTree } from "./helpers/tree.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A stand-in systemctl whose `enable` records its pid and its child's, then sleeps until killed;
 * `terminated` appears when it gets SIGTERM. Its other calls succeed at once.
 */
function sleepingSystemctl(sandbox: Sandbox, onTerm = "exit 143"): { started: string; terminated: string; pids: () => number[] } {
  const started = join(sandbox.bin, "systemctl-pids");
  const terminated = join(sandbox.bin, "systemctl-got-sigterm");
  sandbox.standIn(
    "systemctl",
    `#!/bin/sh\ncase "$*" in *enable*) ;; *) exit 0;; esac\ntrap ': > "${terminated}"; ${onTerm}' TERM\nsleep 30 &\n` +
      `echo "$$ $!" > "${started}.part" && mv "${started}.part" "${started}"\nwait\n`,
  );
  return { started, terminated, pids: () => readFileSync(started, "utf8").trim().split(" ").map(Number) };
}

/** Tier 2 under systemd (the stand-in's), so setup runs commands that a signal can meet. */
function startTier2Setup(sandbox: Sandbox): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const env = {
    ...sandbox.env,
    PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`,
    PI_CODING_AGENT_DIR: join(sandbox.home, ".pi/agent"),
    GATEWAY_SETUP_TEST_SERVICE_MANAGER: "systemd",
  };
  const args = ["--tier", "2", "--yes", "--redis-url", redisUrl, "--prefix", randomPrefix(), "--service", "systemd", "--heartbeat", "systemd"];
  const child = spawn(process.execPath, [CLI, ...args], { env, cwd: sandbox.home, stdio: "pipe" });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.once("close", resolve));
  return { child, output: () => output, exit };
}

describe("setup cancelled by a signal", () => {
  it("rolls back on SIGTERM while a command runs, exits 130 and leaves no command behind", async () => {
    const sandbox = createSandbox();
    const command = sleepingSystemctl(sandbox);
    const before = snapshotTree(sandbox.home);
    const run = startTier2Setup(sandbox);
    await waitFor(() => existsSync(command.started), "systemctl enable to start", 20_000);
    run.child.kill("SIGTERM");
    expect(await run.exit, run.output()).toBe(130);
    expect(runningText(run.output())).toMatch(/cancelled; every change it made was rolled back/);
    expect(snapshotTree(sandbox.home)).toEqual(before);
    await waitFor(() => !command.pids().some(alive), "the stand-in systemctl and its child to be gone", 5_000);
  });

  it("a second SIGINT does not cut the rollback short", async () => {
    const sandbox = createSandbox();
    // the command takes a second to stop, so the second Ctrl-C arrives while the install is unwinding
    const command = sleepingSystemctl(sandbox, "sleep 1; exit 130");
    const before = snapshotTree(sandbox.home);
    const run = startTier2Setup(sandbox);
    await waitFor(() => existsSync(command.started), "systemctl enable to start", 20_000);
    run.child.kill("SIGINT");
    // the rollback is under way (it stopped the command, which takes its second), so this one meets it
    await waitFor(() => existsSync(command.terminated), "the cancelled setup to stop the command", 10_000);
    run.child.kill("SIGINT");
    expect(await run.exit, run.output()).toBe(130);
    expect(runningText(run.output())).toMatch(/rolling back, please wait/);
    expect(runningText(run.output())).toMatch(/cancelled; every change it made was rolled back/);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("Ctrl-C during a spinner in a real terminal", () => {
  it("while verifying: rolls back everything and exits 130", async () => {
    const sandbox = createSandbox();
    // a Redis in front of the real one that holds the installed extension's connection, so verification waits
    const stalling = await startStallingRedis(redisUrl);
    onTestFinished(() => stalling.close());
    const before = snapshotTree(sandbox.home);
    const term = startTmux([process.execPath, CLI, "--tier", "1", "--yes", "--redis-url", stalling.url], {
      env: sandbox.env,
      cwd: sandbox.home,
      width: 100,
      height: 40,
    });
    try {
      await term.waitForText("Verifying", 30_000);
      await waitFor(() => stalling.stalled(), "the installed extension to wait for its Redis", 30_000);
      term.sendKeys("C-c");
      expect(await term.waitForExit(15_000)).toEqual({ status: 130, signal: null });
      expect(term.capture({ history: true })).toMatch(/every change it made was rolled back/);
      expect(snapshotTree(sandbox.home)).toEqual(before);
    } finally {
      term.kill();
    }
  });

  it("while looking for a live pi session: exits 130 and says the install stays", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    const redis = new Redis(redisUrl);
    await redis.set(`${prefix}:gateway:alive:main`, "a session that never answers", "EX", 120);
    const term = startTmux([process.execPath, CLI, "--tier", "1", "--yes", "--prefix", prefix, "--redis-url", redisUrl], {
      env: sandbox.env,
      cwd: sandbox.home,
      width: 100,
      height: 40,
    });
    try {
      await term.waitForText("Looking for a live pi session", 60_000);
      // its smoke event waits for the session that never answers: the cancel below takes it back
      await waitFor(async () => (await redis.llen(`${prefix}:events:main`)) === 1, "the smoke event to be queued", 30_000);
      term.sendKeys("C-c");
      expect(await term.waitForExit(15_000)).toEqual({ status: 130, signal: null });
      expect(term.capture({ history: true })).toMatch(/interrupted after the install was complete; it stays installed/);
      expect(existsSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"))).toBe(true);
      expect(await redis.llen(`${prefix}:events:main`)).toBe(0);
    } finally {
      term.kill();
      await redis.del(`${prefix}:gateway:alive:main`);
      redis.disconnect();
    }
  });
});

describe("a reader that goes away", () => {
  it("`gateway-setup --yes | head -3`: the install runs to the end (manifest written, exit 0), and uninstall too", async () => {
    const sandbox = createSandbox();
    const before = snapshotTree(sandbox.home);
    const closeAfterFirstLines = (args: string[]) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { env: sandbox.env, cwd: sandbox.home, stdio: ["ignore", "pipe", "pipe"] });
        // as `head` does: read a little, then close the pipe while the CLI still has things to say
        child.stdout!.once("data", () => child.stdout!.destroy());
        child.stderr!.once("data", () => child.stderr!.destroy());
        child.once("close", resolve);
      });
    expect(await closeAfterFirstLines(["--tier", "1", "--yes", "--redis-url", redisUrl, "--prefix", randomPrefix()])).toBe(0);
    expect(existsSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"))).toBe(true);
    expect(existsSync(join(sandbox.home, ".pi/agent/extensions/gateway/gateway-extension.mjs"))).toBe(true);
    expect(await closeAfterFirstLines(["uninstall", "--yes"])).toBe(0);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});
