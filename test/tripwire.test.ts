// Watchdog layer 2 for real: the rendered tripwire script run by /bin/sh against a last-heartbeat
// file that is fresh, stale, or missing.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderTripwire, tripwirePaths } from "../src/components/watchdog/tripwire.ts";

function setup(bootGraceSeconds = 0, notifySendFails = false) {
  const stateDir = mkdtempSync(join(tmpdir(), "gw-tripwire-"));
  const bin = mkdtempSync(join(tmpdir(), "gw-tripwire-bin-"));
  const alerts = join(stateDir, "alerts.log");
  // stand-ins, so no test ever broadcasts to real terminals
  for (const tool of ["wall", "notify-send"]) {
    const fails = tool === "notify-send" && notifySendFails ? "exit 1\n" : "";
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${JSON.stringify(alerts)}\ncat >/dev/null\n${fails}`);
    chmodSync(join(bin, tool), 0o755);
  }
  const last = join(stateDir, "last-heartbeat.json");
  const paths = tripwirePaths(stateDir);
  writeFileSync(paths.script, renderTripwire(stateDir, last, 5, { bootGraceSeconds }), { mode: 0o755 });
  const run = (extraEnv: Record<string, string> = {}) =>
    spawnSync("/bin/sh", [paths.script], { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: stateDir, ...extraEnv }, encoding: "utf8" });
  const age = (path: string, seconds: number) => {
    const when = Date.now() / 1000 - seconds;
    utimesSync(path, when, when);
  };
  return { last, paths, alerts, run, age };
}

describe("the tripwire", () => {
  it("stays quiet while heartbeats are fresh", () => {
    const { last, paths, run } = setup();
    writeFileSync(last, "{}");
    expect(run().status).toBe(0);
    expect(existsSync(paths.log)).toBe(false);
  });

  it("alerts once when the last heartbeat is older than twice the interval, and re-arms when heartbeats return", () => {
    const { last, paths, alerts, run, age } = setup();
    writeFileSync(last, "{}");
    age(last, 30);
    const first = run();
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/pi gateway: no heartbeat for 3\d s \(expected every 5 s\)\. Run: gateway-setup doctor/);
    expect(readFileSync(paths.log, "utf8")).toMatch(/no heartbeat for/);
    expect(readFileSync(alerts, "utf8")).toMatch(/^wall /);
    expect(run().stderr).toBe("");
    expect(readFileSync(paths.log, "utf8").trim().split("\n")).toHaveLength(1);
    writeFileSync(last, "{}");
    expect(run().stderr).toBe("");
    expect(existsSync(paths.alertedMarker)).toBe(false);
    age(last, 30);
    expect(run().stderr).toMatch(/no heartbeat/);
    expect(readFileSync(paths.log, "utf8").trim().split("\n")).toHaveLength(2);
  });

  it("gives a fresh install time for its first heartbeat, then alerts if none came", () => {
    const { paths, run, age } = setup();
    expect(run().stderr).toBe("");
    age(paths.script, 60);
    expect(run().stderr).toMatch(/no heartbeat for/);
  });

  it("stays quiet right after boot", () => {
    const { last, run, age } = setup(10 ** 9);
    writeFileSync(last, "{}");
    age(last, 3600);
    expect(run().stderr).toBe("");
  });

  it("after a sleep (its own previous run far longer ago than its schedule) skips one run instead of alarming", () => {
    const { last, paths, run, age } = setup();
    writeFileSync(last, "{}");
    expect(run().stderr).toBe("");
    // the laptop slept for an hour: the heartbeat and the tripwire's own last run are both an hour old
    age(last, 3600);
    age(paths.lastRun, 3600);
    expect(run().stderr).toBe("");
    expect(existsSync(paths.log)).toBe(false);
    // the next run on schedule judges normally: still no heartbeat, so now it alerts
    expect(run().stderr).toMatch(/no heartbeat for 36\d\d s/);
  });

  it("falls back to wall when notify-send is there but fails", () => {
    const { last, alerts, run, age } = setup(0, true);
    writeFileSync(last, "{}");
    age(last, 30);
    expect(run({ DISPLAY: ":0" }).stderr).toMatch(/no heartbeat/);
    expect(
      readFileSync(alerts, "utf8")
        .trim()
        .split("\n")
        .map((line) => line.split(" ")[0]),
    ).toEqual(["notify-send", "wall"]);
  });
});

describe("the tripwire in tier 4", () => {
  it("also alerts the owner on Telegram through the Bot API, with the token read from the secrets file", async () => {
    const { startFakeTelegram } = await import("./helpers/fake-telegram.ts");
    const { execFile } = await import("node:child_process");
    const telegram = await startFakeTelegram();
    telegram.knowChat(111);
    telegram.knowChat(222);
    try {
      const stateDir = mkdtempSync(join(tmpdir(), "gw-tripwire-tg-"));
      const secretsFile = join(stateDir, "secrets.env");
      writeFileSync(secretsFile, `GATEWAY_TELEGRAM_TOKEN=${telegram.token}\n`, { mode: 0o600 });
      const last = join(stateDir, "last-heartbeat.json");
      writeFileSync(last, "{}");
      const when = Date.now() / 1000 - 30;
      utimesSync(last, when, when);
      const paths = tripwirePaths(stateDir);
      const script = renderTripwire(stateDir, last, 5, { bootGraceSeconds: 0, telegram: { apiRoot: telegram.apiRoot, chats: [111, 222], secretsFile } });
      expect(script).not.toContain(telegram.token);
      writeFileSync(paths.script, script, { mode: 0o755 });
      // the fake answers in this process, so the script runs without blocking it
      const stderr = await new Promise<string>((resolve, reject) =>
        execFile("/bin/sh", [paths.script], { env: { PATH: "/usr/bin:/bin", HOME: stateDir } }, (error, _out, err) => (error ? reject(error) : resolve(err))),
      );
      expect(stderr).toMatch(/no heartbeat for/);
      expect(telegram.sent.map((message) => [message.chatId, message.text])).toEqual([
        [111, expect.stringMatching(/^pi gateway: no heartbeat for 3\d s \(expected every 5 s\)\. Run: gateway-setup doctor$/)],
        [222, expect.stringMatching(/^pi gateway: no heartbeat/)],
      ]);
    } finally {
      await telegram.close();
    }
  });
});
