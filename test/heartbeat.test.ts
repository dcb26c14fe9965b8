// Heartbeats in the central session and watchdog layer 1.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  collapseHeartbeats,
  HeartbeatWatchdog,
  isHeartbeatAck,
  readLastHeartbeat,
  watchdogAlarmText,
  writeLastHeartbeat,
} from "../src/runtime/extension/heartbeat.ts";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { loadInstalledExtension, VerificationHost } from "../src/verify/host.ts";
import { createExtensionDir, randomPrefix } from "./helpers/extension-dir.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

const heartbeat = (id: string, ts: number) => createEvent({ id, type: "cron.heartbeat", source: "cron", ts });

describe("heartbeat rules", () => {
  it("collapses several heartbeats into the newest and keeps everything else", () => {
    const other = createEvent({ id: "job", type: "job.done", source: "ci" });
    const { events, collapsed } = collapseHeartbeats([heartbeat("h1", 1000), other, heartbeat("h3", 3000), heartbeat("h2", 2000)]);
    expect(events.map((e) => e.id)).toEqual(["job", "h3"]);
    expect(collapsed).toBe(2);
    expect(collapseHeartbeats([other]).collapsed).toBe(0);
  });

  it("recognises a HEARTBEAT_OK-only reply", () => {
    expect(
      isHeartbeatAck([
        { role: "user", content: "x" },
        { role: "assistant", content: [{ type: "text", text: " HEARTBEAT_OK\n" }] },
      ]),
    ).toBe(true);
    expect(isHeartbeatAck([{ role: "assistant", content: "HEARTBEAT_OK" }])).toBe(true);
    expect(isHeartbeatAck([{ role: "assistant", content: [{ type: "text", text: "HEARTBEAT_OK, but the disk is full" }] }])).toBe(false);
    expect(isHeartbeatAck([])).toBe(false);
  });

  /** a watchdog on a fake clock, checked on schedule (every checkEveryMs) up to a given time */
  function fakeClockWatchdog(config: { intervalSeconds: number; graceSeconds?: number }) {
    let now = 0;
    const alarms: number[] = [];
    const watchdog = new HeartbeatWatchdog(
      { checklistFile: "", lastHeartbeatFile: "", ...config },
      (ms) => alarms.push(ms),
      () => now,
    );
    const runUntil = (until: number) => {
      while (now + watchdog.checkEveryMs <= until) {
        now += watchdog.checkEveryMs;
        watchdog.check();
      }
    };
    const sleepUntil = (until: number) => void (now = until);
    return { watchdog, alarms, runUntil, sleepUntil, now: () => now };
  }

  it("alarms once after twice the interval of silence, never in the grace period, and re-arms on a heartbeat", () => {
    const { watchdog, alarms, runUntil, now } = fakeClockWatchdog({ intervalSeconds: 60, graceSeconds: 300 });
    expect(watchdog.checkEveryMs).toBe(15_000);
    runUntil(299_000);
    expect(alarms).toEqual([]); // still in the grace period
    runUntil(300_000);
    expect(alarms).toEqual([300_000]);
    runUntil(400_000);
    expect(alarms).toHaveLength(1); // fires once
    watchdog.heartbeat();
    const beatAt = now();
    runUntil(beatAt + 120_000);
    expect(alarms).toHaveLength(1); // 120 s is not more than twice the interval
    runUntil(beatAt + 135_000);
    expect(alarms).toEqual([300_000, 135_000]);
  });

  it("takes a long gap between two checks for a wake-up from sleep and gives the heartbeat source a new grace period", () => {
    const { watchdog, alarms, runUntil, sleepUntil } = fakeClockWatchdog({ intervalSeconds: 60 });
    for (let t = 60_000; t <= 600_000; t += 60_000) {
      runUntil(t);
      watchdog.heartbeat(); // a heartbeat every minute, as scheduled
    }
    runUntil(660_000);
    // the laptop sleeps for an hour: no check runs, the wall clock moves on
    sleepUntil(4_260_000);
    runUntil(4_260_000 + 119_000);
    expect(alarms).toEqual([]); // within the grace period (twice the interval) after the wake-up
    watchdog.heartbeat(); // the heartbeat source caught up
    runUntil(4_260_000 + 200_000);
    expect(alarms).toEqual([]);
    // no heartbeat after a wake-up at all: the alarm comes once the new grace period is over
    sleepUntil(10_000_000);
    runUntil(10_000_000 + 135_000);
    expect(alarms).toHaveLength(1);
  });

  it("names the heartbeat source that is installed in the alarm, not every source there is", () => {
    const base = { checklistFile: "", lastHeartbeatFile: "", intervalSeconds: 60 };
    expect(watchdogAlarmText({ ...base, source: "inngest" }, 150_000)).toBe(
      "[gateway watchdog] No heartbeat has arrived for 3 min (expected every 60 s). " +
        "The heartbeat source (the Inngest function your Inngest app serves) may have stopped: " +
        "tell the user, and suggest running `gateway-setup doctor`.",
    );
    expect(watchdogAlarmText({ ...base, source: "cron" }, 20_000)).toContain(
      "for 20 s (expected every 60 s). The heartbeat source (gateway-setup's block in your crontab) may have stopped",
    );
    expect(watchdogAlarmText({ ...base, source: "launchd" }, 150_000)).toContain("The heartbeat source (the launchd heartbeat job) may have stopped");
    expect(watchdogAlarmText({ ...base, source: "systemd" }, 150_000)).toContain("The heartbeat source (the systemd heartbeat timer) may have stopped");
    // an extension an older setup installed does not say which source it has
    expect(watchdogAlarmText(base, 150_000)).toContain("expected every 60 s). The heartbeat source may have stopped: ");
  });

  it("reads a last-heartbeat record only when it is one", () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-hbrec-"));
    const file = join(dir, "last-heartbeat.json");
    writeLastHeartbeat(file, { eventId: "hb-1", ts: 1_700_000_000_000, deliveredAt: 1_700_000_001_000 });
    expect(readLastHeartbeat(file)).toEqual({ eventId: "hb-1", ts: 1_700_000_000_000, deliveredAt: 1_700_000_001_000 });
    for (const bad of [
      "{}",
      "null",
      "[]",
      '{"eventId":"x","ts":1,"deliveredAt":"soon"}',
      '{"eventId":"x","ts":1,"deliveredAt":2,"acknowledgedAt":null}',
      "not json",
    ]) {
      writeFileSync(file, bad);
      expect(readLastHeartbeat(file), bad).toBeUndefined();
    }
  });
});

async function centralSession(intervalSeconds: number, busy = false, source?: "inngest") {
  const prefix = randomPrefix();
  const dir = mkdtempSync(join(tmpdir(), "gw-hb-"));
  const checklistFile = join(dir, "HEARTBEAT.md");
  writeFileSync(checklistFile, "# Heartbeat\n- [ ] the nightly backup ran\n");
  const lastHeartbeatFile = join(dir, "state/last-heartbeat.json");
  const extensionDir = createExtensionDir({ prefix, redisUrl });
  const mod = await loadInstalledExtension(extensionDir);
  const host = new VerificationHost();
  const config = {
    ...mod.gatewayConfig,
    mode: "central" as const,
    sessionId: "gateway",
    pollIntervalMs: 500,
    heartbeat: { intervalSeconds, checklistFile, lastHeartbeatFile, graceSeconds: intervalSeconds, ...(source ? { source } : {}) },
  };
  await host.load(mod.createGatewayExtension(config, { GATEWAY_ROLE: "central" }));
  if (busy) {
    host.autoTurn = false;
    await host.emit("agent_start", {});
  }
  await host.startSession();
  await host.waitFor(() => host.statuses.get("gateway")?.startsWith("gateway: listening") === true, 10_000, "listening");
  return { host, prefix, lastHeartbeatFile };
}

describe("the central session with heartbeats", () => {
  it("hands over one heartbeat with the checklist, records it, and takes HEARTBEAT_OK as the acknowledgement", async () => {
    const { host, prefix, lastHeartbeatFile } = await centralSession(3600, true);
    try {
      const now = Date.now();
      for (const [i, ts] of [now - 2000, now - 1000, now].entries())
        await pushToSession(redis, { prefix, sessionId: "gateway", event: heartbeat(`hb-${i}`, ts) });
      await pushToSession(redis, { prefix, sessionId: "gateway", event: createEvent({ id: "deploy", type: "deploy.done", source: "ci" }) });
      await host.emit("agent_end", { messages: [] });
      await host.waitFor(() => host.sent.length === 1, 5_000, "the message");
      const text = host.sent[0]!.text;
      expect(text).toContain("deploy.done from ci · id deploy");
      expect(text).toContain("2 earlier heartbeats folded into this one");
      expect(text).toContain("- [ ] the nightly backup ran");
      expect(text).toContain("reply with exactly HEARTBEAT_OK");
      expect(JSON.parse(readFileSync(lastHeartbeatFile, "utf8"))).toMatchObject({ eventId: "hb-2", ts: now });
      host.reply = "HEARTBEAT_OK";
      await host.runTurn();
      expect(JSON.parse(readFileSync(lastHeartbeatFile, "utf8"))).toMatchObject({ eventId: "hb-2", acknowledgedAt: expect.any(Number) });
    } finally {
      await host.shutdown();
    }
  });

  it("raises the watchdog alarm once when heartbeats stop, and again after they resume and stop", async () => {
    const { host, prefix } = await centralSession(1, false, "inngest");
    try {
      const alarms = () => host.sent.filter((m) => m.text.startsWith("[gateway watchdog]")).length;
      await host.waitFor(() => alarms() === 1, 10_000, "the first alarm");
      expect(host.notices.some((n) => n.type === "error" && /No heartbeat has arrived/.test(n.message))).toBe(true);
      // the installed source, by name
      expect(host.sent.find((m) => m.text.startsWith("[gateway watchdog]"))!.text).toContain(
        "The heartbeat source (the Inngest function your Inngest app serves) may have stopped",
      );
      await new Promise((r) => setTimeout(r, 2500));
      expect(alarms()).toBe(1);
      await pushToSession(redis, { prefix, sessionId: "gateway", event: heartbeat("back", Date.now()) });
      await host.waitFor(() => host.sent.some((m) => m.text.includes("heartbeat from cron")), 5_000, "the heartbeat");
      await host.waitFor(() => alarms() === 2, 10_000, "the second alarm");
    } finally {
      await host.shutdown();
    }
  });
});
