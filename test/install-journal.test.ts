// An install killed outright (SIGKILL: no handler runs, no rollback) leaves its journal; the next
// setup, uninstall or `doctor --fix` rolls that run back, and a second run never interleaves with
// a live one. Also the journal's undo entries on their own.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { mergeCronBlock } from "../src/components/crontab/block.ts";
import {
  InstallJournal,
  JournalBusyError,
  journalPath,
  readInterruptedInstall,
  recoverInterruptedInstall,
  type UndoEntry,
  undoEntry,
} from "../src/install/journal.ts";
import { CLI, createSandbox, runCli, runningText, type Sandbox } from "./helpers/cli.ts";
import { startStallingRedis } from "./helpers/stalling-redis.ts";
import { snapshotTree } from "./helpers/tree.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const setupArgs = ["--tier", "1", "--yes", "--redis-url", redisUrl];

/** Starts setup and SIGKILLs it while its verification waits (every file written, the journal open); returns once it is dead. */
async function killedSetup(sandbox: Sandbox, whileRunning?: () => Promise<void>): Promise<void> {
  const stalling = await startStallingRedis(redisUrl);
  const child = spawn(process.execPath, [CLI, "--tier", "1", "--yes", "--redis-url", stalling.url], { env: sandbox.env, cwd: sandbox.home, stdio: "ignore" });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    await waitFor(() => stalling.stalled(), "the installed extension to wait for its Redis", 20_000);
    await whileRunning?.();
  } finally {
    child.kill("SIGKILL");
    await exited;
    await stalling.close();
  }
}

const agentDir = (sandbox: Sandbox) => join(sandbox.home, ".pi/agent");
const extensionDir = (sandbox: Sandbox) => join(agentDir(sandbox), "extensions/gateway");

describe("an install killed midway", () => {
  it("keeps a second run out while it runs; afterwards doctor names it, and the next setup rolls it back before installing", async () => {
    const sandbox = createSandbox();
    const before = snapshotTree(sandbox.home);
    await killedSetup(sandbox, async () => {
      const second = await runCli(setupArgs, { env: sandbox.env, cwd: sandbox.home });
      expect(second.code, second.stdout + second.stderr).toBe(1);
      expect(runningText(second.stdout + second.stderr)).toMatch(
        /another gateway-setup \(pid \d+, started .*\) is changing this install right now\s+→ wait for it to finish, then run this again/,
      );
    });
    // what the killed run left: its files and its journal, no manifest
    expect(existsSync(join(extensionDir(sandbox), "index.ts"))).toBe(true);
    expect(existsSync(journalPath(join(agentDir(sandbox), "gateway")))).toBe(true);

    const doctor = await runCli(["doctor", "--json"], { env: sandbox.env });
    expect(doctor.code).toBe(1);
    const findings = JSON.parse(doctor.stdout).checks as { id: string; status: string; message: string; fix?: string }[];
    expect(findings[0]).toMatchObject({ id: "interrupted-install", status: "fail", fix: expect.stringContaining("gateway-setup doctor --fix") });
    expect(findings[0]!.message).toMatch(/a gateway-setup run \(gateway-setup --tier 1 .*, pid \d+, started .*\) was stopped before it finished/);

    const status = await runCli(["status"], { env: sandbox.env });
    expect(runningText(status.stdout)).toMatch(
      new RegExp(
        /^Not installed\. Run: npx gateway-setup setup /.source +
          /a gateway-setup run \(gateway-setup --tier 1 .*, pid \d+, started .*\) was stopped before it finished; /.source +
          /gateway-setup doctor --fix sets it right\s*$/.source,
      ),
    );
    expect(JSON.parse((await runCli(["status", "--json"], { env: sandbox.env })).stdout).interrupted).toMatchObject({
      running: false,
      pid: expect.any(Number),
    });

    const dryRun = await runCli(["uninstall", "--dry-run"], { env: sandbox.env });
    expect(dryRun.stderr).toMatch(/a real run rolls its changes back first/);
    expect(existsSync(journalPath(join(agentDir(sandbox), "gateway")))).toBe(true);

    const setup = await runCli(setupArgs, { env: sandbox.env, cwd: sandbox.home });
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    expect(runningText(setup.stdout + setup.stderr)).toMatch(/was stopped before it finished; its changes were rolled back\./);
    // the killed run's half tree was not taken for the user's own: uninstall leaves nothing behind
    const uninstall = await runCli(["uninstall", "--yes"], { env: sandbox.env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });

  it("over the user's own files in the extension folder: `doctor --fix` puts back exactly what was there", async () => {
    const sandbox = createSandbox();
    mkdirSync(join(extensionDir(sandbox), "node_modules/left-pad"), { recursive: true });
    writeFileSync(join(extensionDir(sandbox), "node_modules/left-pad/index.js"), "module.exports = 1;\n");
    writeFileSync(join(extensionDir(sandbox), "index.ts"), "// the user's own extension\n");
    chmodSync(join(extensionDir(sandbox), "index.ts"), 0o640);
    const before = snapshotTree(sandbox.home);
    await killedSetup(sandbox);
    expect(readFileSync(join(extensionDir(sandbox), "index.ts"), "utf8")).toContain("Generated by gateway-setup");

    const fixed = await runCli(["doctor", "--fix"], { env: sandbox.env });
    expect(runningText(fixed.stdout)).toMatch(/interrupted-install\s+rolled back the stopped run \(pid \d+\)\s/);
    expect(fixed.stdout).toMatch(/has not installed anything/);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("the journal's undo entries", () => {
  const scratch = () => mkdtempSync(join(tmpdir(), "gw-journal-"));

  it("do no harm when the change they undo never happened", async () => {
    const dir = scratch();
    writeFileSync(join(dir, "kept"), "the user's\n");
    const never: UndoEntry[] = [
      { undo: "move-tree", from: join(dir, "copy-never-made"), to: join(dir, "kept") },
      { undo: "rename", from: join(dir, "aside-never-made"), to: join(dir, "kept") },
      { undo: "restore-file", path: join(dir, "kept"), from: join(dir, "backup-never-made"), mode: 0o600 },
      { undo: "remove", path: join(dir, "never-created") },
      { undo: "run", argv: ["/bin/false"], mayFail: true },
    ];
    for (const entry of never) await undoEntry(entry, process.env);
    expect(readFileSync(join(dir, "kept"), "utf8")).toBe("the user's\n");
    await expect(undoEntry({ undo: "run", argv: ["/bin/false"] }, process.env)).rejects.toThrow();
  });

  it("a line cut short by the kill is ignored; the rest is undone newest first", async () => {
    const dir = scratch();
    const owner = { pid: 2 ** 22 + 1, host: hostname(), startedAt: "2026-12-01T00:00:00.000Z", command: "gateway-setup --yes" };
    writeFileSync(join(dir, "made"), "ours\n");
    writeFileSync(join(dir, "backup"), "theirs\n");
    const entries: UndoEntry[] = [
      { undo: "restore-file", path: join(dir, "made"), from: join(dir, "backup"), mode: 0o644 },
      { undo: "remove", path: join(dir, "made") },
    ];
    writeFileSync(journalPath(dir), [owner, ...entries].map((line) => JSON.stringify(line) + "\n").join("") + '{"undo":"remo');
    expect(readInterruptedInstall(dir)).toMatchObject({ running: false, entries });
    expect(await recoverInterruptedInstall(readInterruptedInstall(dir)!, process.env)).toEqual([]);
    // removed first (the newer entry), then the older one put the user's file back
    expect(readFileSync(join(dir, "made"), "utf8")).toBe("theirs\n");
    expect(existsSync(journalPath(dir))).toBe(false);
  });

  it("the crontab goes back as it was, or, when it changed since, only our block does", async () => {
    const sandbox = createSandbox();
    const stored = join(sandbox.bin, "crontab.txt");
    sandbox.standIn(
      "crontab",
      `#!/bin/sh\nif [ "$1" = -l ]; then cat "${stored}" 2>/dev/null || { echo "no crontab for you" >&2; exit 1; }; ` +
        `elif [ "$1" = - ]; then cat > "${stored}"; else rm -f "${stored}"; fi\n`,
    );
    const before = "0 3 * * * backup\n";
    const after = mergeCronBlock(before, [{ schedule: "*/15 * * * *", command: "heartbeat" }]);
    const entry: UndoEntry = { undo: "crontab", contents: before, after };
    writeFileSync(stored, after);
    await undoEntry(entry, sandbox.env);
    expect(readFileSync(stored, "utf8")).toBe(before);
    // days later the user added a job by hand before the stopped run was recovered: it stays
    writeFileSync(stored, `${after}30 4 * * * new-job\n`);
    await undoEntry(entry, sandbox.env);
    expect(readFileSync(stored, "utf8")).toBe("0 3 * * * backup\n30 4 * * * new-job\n");
    // never written (killed before crontab ran): nothing to do
    await undoEntry(entry, sandbox.env);
    expect(readFileSync(stored, "utf8")).toBe("0 3 * * * backup\n30 4 * * * new-job\n");
  });

  it("a run stopped after its commit line is finished, not undone", async () => {
    const dir = scratch();
    writeFileSync(join(dir, "installed"), "new\n");
    writeFileSync(join(dir, "old.gateway-setup-retired-1"), "old\n");
    const owner = { pid: 2 ** 22 + 1, host: hostname(), startedAt: "2026-12-01T00:00:00.000Z", command: "gateway-setup --yes" };
    const lines = [
      owner,
      { undo: "remove", path: join(dir, "installed") },
      { undo: "rename", from: join(dir, "old.gateway-setup-retired-1"), to: join(dir, "old") },
      { committed: [{ then: "remove", path: join(dir, "old.gateway-setup-retired-1") }] },
    ];
    writeFileSync(journalPath(dir), lines.map((line) => JSON.stringify(line) + "\n").join(""));
    expect(await recoverInterruptedInstall(readInterruptedInstall(dir)!, process.env)).toEqual([]);
    expect(readFileSync(join(dir, "installed"), "utf8")).toBe("new\n");
    expect(existsSync(join(dir, "old"))).toBe(false);
    expect(existsSync(join(dir, "old.gateway-setup-retired-1"))).toBe(false);
    expect(existsSync(journalPath(dir))).toBe(false);
  });

  it("a second journal cannot start while one is there, and a failed start leaves none", () => {
    const parent = scratch();
    const first = InstallJournal.begin(join(parent, "state"), "gateway-setup", process.env);
    expect(() => InstallJournal.begin(join(parent, "state"), "gateway-setup", process.env)).toThrow(JournalBusyError);
    first.end();
    expect(existsSync(join(parent, "state"))).toBe(false);
    // a state dir that cannot take the journal: nothing is left behind that looks like a stopped run
    writeFileSync(join(parent, "file"), "");
    expect(() => InstallJournal.begin(join(parent, "file", "state"), "gateway-setup", process.env)).toThrow();
    expect(readInterruptedInstall(join(parent, "file", "state"))).toBeUndefined();
  });

  it("a pid taken by a newer process (after a reboot) is not the journal's owner", async () => {
    const dir = scratch();
    // this test's parent process runs, but it started long after 2020
    writeFileSync(
      journalPath(dir),
      JSON.stringify({ pid: process.ppid, host: hostname(), startedAt: "2020-01-01T00:00:00.000Z", command: "gateway-setup" }) + "\n",
    );
    expect(readInterruptedInstall(dir)?.running).toBe(process.platform !== "linux");
  });

  it("is left alone while its process runs", async () => {
    const dir = scratch();
    writeFileSync(journalPath(dir), JSON.stringify({ pid: process.ppid, host: hostname(), startedAt: "now", command: "gateway-setup" }) + "\n");
    await expect(recoverInterruptedInstall(readInterruptedInstall(dir)!, process.env)).rejects.toBeInstanceOf(JournalBusyError);
    expect(existsSync(journalPath(dir))).toBe(true);
  });
});
