// Issue 14 item 6: what the gateway keeps under its state dir (the Redis password, the central
// pi's last screen, heartbeats, backups) is for the user only, doctor says when it is not and
// --fix makes it so; and a malformed event is kept in the dead letters only in part, in a list
// of bounded length.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { formatStatus, type StatusReport } from "../src/cli/status-command.ts";
import { renderWrapper, TMUX_SOCKET } from "../src/components/service/wrapper.ts";
import { runDoctor } from "../src/doctor/run-doctor.ts";
import { sha256 } from "../src/install/fs-ops.ts";
import { writeLastHeartbeat } from "../src/runtime/extension/heartbeat.ts";
import { MAX_DEAD_LETTER_RAW, MAX_DEAD_LETTERS } from "../src/runtime/protocol/dead-letter.ts";
import { drainOnce } from "../src/runtime/protocol/drain.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { installTier1 } from "./helpers/install.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
const temps: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => redis.disconnect());
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const temp = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), name));
  temps.push(dir);
  return dir;
};
const modeOf = (path: string) => statSync(path).mode & 0o777;

describe("the state dir", () => {
  it("is made 0700 by an install, and doctor --fix makes what the running gateway left there private again (folders 0700, files 0600)", async () => {
    const { env, plan, home } = await installTier1(redisUrl);
    temps.push(home);
    const stateDir = plan.settings.stateDir;
    expect(modeOf(stateDir)).toBe(0o700);
    expect(modeOf(plan.settings.manifestPath)).toBe(0o600);

    // as an earlier version left it: a 0755 state dir and a wrapper's log and a heartbeat record at 0644
    chmodSync(stateDir, 0o755);
    const log = join(stateDir, "central-session.log");
    writeFileSync(log, "pi's last screen: export OPENAI_API_KEY=sk-...\n", { mode: 0o644 });
    chmodSync(log, 0o644);
    mkdirSync(join(stateDir, "telegram"), { mode: 0o755 });
    chmodSync(join(stateDir, "telegram"), 0o755);
    const before = await runDoctor({ env, only: ["state-modes"] });
    expect(before.ok).toBe(false);
    expect(before.checks[0]).toMatchObject({ id: "state-modes", status: "fail", fix: expect.stringContaining("doctor --fix") });
    expect(before.checks[0]!.message).toContain("central-session.log (0644)");
    expect(before.checks[0]!.message).toContain("telegram (0755)");

    const fixed = await runDoctor({ env, only: ["state-modes"], fix: true });
    expect(fixed.ok).toBe(true);
    expect(fixed.repairs).toEqual([{ id: "state-modes", result: expect.stringContaining("central-session.log") }]);
    expect([modeOf(stateDir), modeOf(log), modeOf(join(stateDir, "telegram"))]).toEqual([0o700, 0o600, 0o700]);
    // journaled like every repair, and committed: no journal left behind
    expect(existsSync(join(stateDir, "install-journal.jsonl"))).toBe(false);
    // the files the install wrote keep the modes the manifest records (extension-files checks them)
    expect((await runDoctor({ env, only: ["extension-files"] })).ok).toBe(true);
  });

  it("gets its last-heartbeat record written 0600 in a 0700 folder", () => {
    const dir = join(temp("gw-state-"), "gateway");
    writeLastHeartbeat(join(dir, "last-heartbeat.json"), { eventId: "h1", ts: 1, deliveredAt: 2 });
    expect([modeOf(dir), modeOf(join(dir, "last-heartbeat.json"))]).toEqual([0o700, 0o600]);
  });

  it("gets a crashed central pi's last screen logged 0600, even over a log an earlier wrapper left at 0644", async () => {
    const tmux = spawnSync("sh", ["-c", "command -v tmux"], { encoding: "utf8" }).stdout.trim();
    const dir = temp("gw-wrapper-log-");
    const tmuxDir = temp("gw-tmux-");
    const fakePi = join(dir, "pi");
    // much output just before the end: tmux drops what it has not read of a pane when the pane's
    // process ends, which lost these last lines in one run of three to six here before the shell around pi lingered
    const output = 'i=0; while [ $i -lt 3000 ]; do echo "pi: working on step $i"; i=$((i + 1)); done';
    writeFileSync(fakePi, `#!/bin/sh\n${output}\necho "pi: token=secret"; exit 3\n`, { mode: 0o755 });
    const log = join(dir, "central-session.log");
    writeFileSync(log, "an older crash\n", { mode: 0o644 });
    chmodSync(log, 0o644);
    const wrapper = join(dir, "run-central.sh");
    const environment = { PATH: "/usr/bin:/bin", HOME: dir };
    writeFileSync(wrapper, renderWrapper({ tmux, session: "pi-gateway", workdir: dir, piArgv: [fakePi], environment, log, pollSeconds: 1 }));
    // a umask that would leave the log readable by everyone
    const child = spawn("/bin/sh", ["-c", `umask 022; exec /bin/sh ${JSON.stringify(wrapper)}`], {
      env: { PATH: "/usr/bin:/bin", HOME: dir, TMUX_TMPDIR: tmuxDir },
      stdio: "ignore",
    });
    children.push(child);
    try {
      expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(1);
    } finally {
      spawnSync(tmux, ["-L", TMUX_SOCKET, "kill-server"], { env: { ...process.env, TMUX_TMPDIR: tmuxDir } });
    }
    expect(readFileSync(log, "utf8")).toMatch(/pi: working on step 2999\npi: token=secret\n\[gateway-setup\] pi exited with status 3\n$/);
    expect(modeOf(log)).toBe(0o600);
  });
});

describe("dead letters", () => {
  it("keep a malformed entry's first characters, its size and its hash, never the whole of it", async () => {
    const keys = sessionKeys(randomPrefix(), "main");
    const junk = `{"not":"an event","blob":"${"x".repeat(1024 * 1024)}"`;
    await redis.lpush(keys.events, junk);
    const result = await drainOnce(redis, keys, { maxBatch: 10, dedupeTtlSeconds: 60, handOff: () => {} });
    expect(result.deadLettered).toHaveLength(1);
    const stored = JSON.parse((await redis.lindex(keys.deadLetter, 0))!);
    expect(stored).toMatchObject({ reason: expect.any(String), bytes: Buffer.byteLength(junk), sha256: sha256(junk), truncated: true });
    expect(stored.raw).toBe(junk.slice(0, MAX_DEAD_LETTER_RAW));
    expect(await redis.memory("USAGE", keys.deadLetter)).toBeLessThan(16 * 1024);
  });

  it(`keep the newest ${MAX_DEAD_LETTERS} per session`, async () => {
    const keys = sessionKeys(randomPrefix(), "main");
    const total = MAX_DEAD_LETTERS + 5;
    await redis.lpush(keys.events, ...Array.from({ length: total }, (_, i) => `junk ${i}`));
    const result = await drainOnce(redis, keys, { maxBatch: total, dedupeTtlSeconds: 60, handOff: () => {} });
    expect(result.deadLettered).toHaveLength(total);
    expect(await redis.llen(keys.deadLetter)).toBe(MAX_DEAD_LETTERS);
    expect(JSON.parse((await redis.lindex(keys.deadLetter, 0))!).raw).toBe(`junk ${total - 1}`);
    expect(JSON.parse((await redis.lindex(keys.deadLetter, -1))!).raw).toBe("junk 5");
  });

  it("are described with their caps in status", () => {
    const report: StatusReport = {
      installed: true,
      version: "1",
      tier: 1,
      installedAt: "t",
      updatedAt: "t",
      extensionDir: "/x",
      ioredis: "5.0.0",
      redis: { url: "redis://127.0.0.1:6379", reachable: true },
      sessions: [{ id: "main", registered: true, alive: true, listeners: 1, pending: 0, processing: 0, deadLetters: 3 }],
      deadLetterLimits: { keep: MAX_DEAD_LETTERS, rawChars: MAX_DEAD_LETTER_RAW },
    };
    expect(formatStatus(report, {})).toContain(`dead letters kept: the newest ${MAX_DEAD_LETTERS} per session, each with at most ${MAX_DEAD_LETTER_RAW}`);
  });
});
