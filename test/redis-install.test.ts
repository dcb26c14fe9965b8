// The "no Redis yet" path end to end: with consent, gateway-setup installs and starts a
// package-manager Redis, which listens at 127.0.0.1:6379. The CLI runs in a network namespace of
// its own, where that address is private to the test: the machine's own 6379 is never touched.
// apt-get and service are recording stand-ins; the stand-in service starts a real redis-server.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ownPackageJson } from "../src/platform/package-root.ts";
import { CLI, createSandbox, runningText, type Sandbox, TEST_NPM_ENV } from "./helpers/cli.ts";
import { snapshotTree } from "./helpers/tree.ts";

const netnsWorks = spawnSync("unshare", ["--net", "sh", "-c", "ip link set lo up"]).status === 0;

/** Records every call; `redis-server start` (service or systemctl wording) really starts one unless told to fail. */
function standInPackageManagers(sandbox: Sandbox, startFails: boolean): string {
  const record = join(sandbox.bin, "commands.log");
  const pidFile = join(sandbox.bin, "redis.pid");
  const start = startFails
    ? "exit 1"
    : `exec redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --save '' --appendonly no --pidfile "${pidFile}" --dir "${sandbox.bin}"`;
  for (const name of ["apt-get", "sudo"]) sandbox.standIn(name, `#!/bin/sh\necho "${name} $*" >> "${record}"\nexit 0\n`);
  for (const name of ["service", "systemctl"]) {
    sandbox.standIn(name, `#!/bin/sh\necho "${name} $*" >> "${record}"\ncase "$*" in *redis-server*start*|*start*redis-server*) ${start} ;; esac\nexit 0\n`);
  }
  return record;
}

/** gateway-setup in a fresh network namespace (only its loopback, brought up) */
function runIsolated(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("unshare", ["--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', process.execPath, CLI, ...args], {
      cwd: env.HOME,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function stopRedis(sandbox: Sandbox): void {
  const pidFile = join(sandbox.bin, "redis.pid");
  if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGTERM");
}

describe.runIf(netnsWorks)("installing Redis when there is none", () => {
  // the namespace has no network: npm must find ioredis in the tests' shared cache
  const offlineEnv = (sandbox: Sandbox) => {
    const cached = spawnSync("npm", ["cache", "add", `ioredis@${ownPackageJson().dependencies.ioredis}`], {
      env: { ...process.env, ...TEST_NPM_ENV },
      encoding: "utf8",
    });
    expect(cached.status, cached.stderr).toBe(0);
    return { ...sandbox.env, npm_config_offline: "true" };
  };

  it("with consent (--yes) installs and starts it with the package manager, then installs and verifies the gateway", async () => {
    const sandbox = createSandbox();
    const record = standInPackageManagers(sandbox, false);
    try {
      const result = await runIsolated(["--tier", "1", "--yes", "--json"], offlineEnv(sandbox));
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({ ok: true, plan: { settings: { redisUrl: "redis://127.0.0.1:6379" } } });
      expect(report.verification.map((check: { status: string }) => check.status)).not.toContain("fail");
      const commands = readFileSync(record, "utf8").trim().split("\n");
      expect(commands).toEqual([
        "apt-get update",
        "apt-get install -y redis-server",
        expect.stringMatching(/^(service redis-server start|systemctl start redis-server)$/),
      ]);
      expect(existsSync(join(sandbox.home, ".pi/agent/extensions/gateway/index.ts"))).toBe(true);
    } finally {
      stopRedis(sandbox);
    }
  });

  it("says plainly what stays behind when starting it fails, and rolls back everything else", async () => {
    const sandbox = createSandbox();
    const record = standInPackageManagers(sandbox, true);
    const result = await runIsolated(["--tier", "1", "--yes"], offlineEnv(sandbox));
    expect(result.code).toBe(1);
    expect(readFileSync(record, "utf8")).toContain("apt-get install -y redis-server");
    expect(runningText(result.stdout)).toContain("Redis packages installed and services started by this run are not rolled back");
    expect(snapshotTree(sandbox.home)).toEqual({});
  });
});
