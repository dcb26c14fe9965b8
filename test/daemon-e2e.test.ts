// Tier 4 end to end: the real CLI (`gateway-setup daemon`) in a temp HOME, against the fake Bot API,
// the fake model, the suite's redis-server and the real pi SDK. Who gets in, one turn at a time,
// every reply to its origin, long replies split, /stop and /status mid-turn, SIGKILL and SIGTERM
// mid-turn, a flaky Bot API, a second daemon on the same token, and the token kept secret.
import { existsSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { readDaemonStatus } from "../src/runtime/daemon/status-file.ts";
import { createEvent, HEARTBEAT_EVENT_TYPE } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { runCli } from "./helpers/cli.ts";
import { allDaemonRuns, type DaemonInstall, type DaemonRun, filesContaining, installDaemon, killAllDaemons, startDaemonCli } from "./helpers/daemon-cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type ChatRequest, type FakeModel, newestUserTexts, requestText, startFakeModel } from "./helpers/fake-model.ts";
import { type FakeTelegram, type SentMessage, splitProblem, startFakeTelegram } from "./helpers/fake-telegram.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
const OWNER = 111;
const FRIEND = 222;
const STRANGER = 333;

/** a reply of this many characters, in paragraphs, for an input carrying TOKEN-long */
const LONG_REPLY = Array.from({ length: 40 }, (_, i) => `Paragraph ${i + 1}: ${"lorem ipsum dolor sit amet ".repeat(9).trim()}.`).join("\n\n");

/** Every input carries a TOKEN-...; the model answers "re <token>" (HEARTBEAT_OK to a heartbeat, a long text to TOKEN-long). */
function reply(request: ChatRequest): string {
  const text = newestUserTexts(request).join("\n");
  if (text.includes("HEARTBEAT_OK")) return "HEARTBEAT_OK";
  const token = (text.match(/TOKEN-[\w-]+/) ?? ["(no token)"])[0];
  return token === "TOKEN-long" ? LONG_REPLY : `re ${token}`;
}

let model: FakeModel;
const fakes: FakeTelegram[] = [];
const installs: DaemonInstall[] = [];

beforeAll(async () => {
  model = await startFakeModel({ reply });
});
afterAll(async () => {
  killAllDaemons();
  await model.close();
  for (const fake of fakes) await fake.close();
  for (const install of installs) install.cleanup();
  redis.disconnect();
});

async function setUp(telegram: Record<string, unknown>, config?: Parameters<typeof installDaemon>[2]["config"]) {
  const fake = await startFakeTelegram(`77000000${fakes.length}:AAE2eTokenNumber${fakes.length}_qwertyuiopasdfghjkl`);
  fakes.push(fake);
  const install = installDaemon(model, fake, { prefix: randomPrefix(), redisUrl, telegram, ...(config ? { config } : {}) });
  installs.push(install);
  return { fake, install };
}

const to = (sent: readonly SentMessage[], chatId: number) => sent.filter((m) => m.chatId === chatId).map((m) => m.text);
const count = (texts: readonly string[], text: string) => texts.filter((t) => t === text).length;
const sentTo = (fake: FakeTelegram, chatId: number, text: string, timeoutMs = 20_000) => fake.waitForSent((sent) => to(sent, chatId).includes(text), timeoutMs);
/** the TOKEN-... of each model request from `from` on, in order */
const tokensAsked = (from: number) =>
  model.requests.slice(from).map(
    (request) =>
      newestUserTexts(request)
        .join("\n")
        .match(/TOKEN-[\w-]+/g) ?? [],
  );

describe("one daemon, two allowed users and pairing", () => {
  let fake: FakeTelegram;
  let install: DaemonInstall;
  let daemon: DaemonRun;

  beforeAll(async () => {
    ({ fake, install } = await setUp({ allow: [OWNER, FRIEND], pairing: true }, ({ agentDir, stateDir }) => ({
      heartbeat: { intervalSeconds: 900, checklistFile: join(agentDir, "HEARTBEAT.md"), lastHeartbeatFile: join(stateDir, "last-heartbeat.json") },
    })));
    writeFileSync(join(install.agentDir, "HEARTBEAT.md"), "- is the disk full?\n");
    fake.knowChat(OWNER);
    daemon = await startDaemonCli(install);
  }, 40_000);
  afterAll(async () => {
    daemon?.child.kill("SIGTERM");
    expect(await daemon?.exited).toBe(0);
  });

  it("answers each allowed user in their own chat, never the other's", async () => {
    fake.injectMessage({ userId: OWNER, text: "hello TOKEN-a1" });
    fake.injectMessage({ userId: FRIEND, text: "hi TOKEN-b1" });
    const sent = await fake.waitForSent((s) => to(s, OWNER).includes("re TOKEN-a1") && to(s, FRIEND).includes("re TOKEN-b1"));
    expect(to(sent, OWNER)).not.toContain("re TOKEN-b1");
    expect(to(sent, FRIEND)).not.toContain("re TOKEN-a1");
  });

  it("gives an unknown user only a pairing code; `gateway-setup pair <code>` admits them", async () => {
    fake.injectMessage({ userId: STRANGER, text: "let me in TOKEN-s1" });
    const sent = await fake.waitForSent((s) => to(s, STRANGER).some((t) => /pairing code is [A-Z0-9]+/.test(t)));
    const code = /pairing code is ([A-Z0-9]+)/.exec(to(sent, STRANGER)[0]!)![1]!;

    const wrong = await runCli(["pair", "NOSUCHCODE"], { env: install.env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("no such code (codes expire after 1 hour): ask the bot again");

    const paired = await runCli(["pair", code.toLowerCase()], { env: install.env });
    expect(paired.stderr).toBe("");
    expect(paired.code).toBe(0);
    expect(paired.stdout).toContain(`Admitted Telegram user ${STRANGER}`);

    const again = await runCli(["pair", code, "--json"], { env: install.env });
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: false, error: { message: expect.stringContaining("no such code"), fix: expect.any(String) } });

    fake.injectMessage({ userId: STRANGER, text: "now TOKEN-s2" });
    await sentTo(fake, STRANGER, "re TOKEN-s2");
    expect(model.requests.filter((request) => requestText(request).includes("TOKEN-s1"))).toEqual([]);
    expect(to(fake.sent, STRANGER)).toHaveLength(2);
  });

  it("takes a Redis event and Telegram messages one turn at a time, humans first, each reply to its origin", async () => {
    const release = model.hold();
    try {
      const from = model.requests.length;
      fake.injectMessage({ userId: OWNER, text: "first TOKEN-c1" });
      await model.waitForRequest("TOKEN-c1");
      const pushed = await runCli(
        ["push", "job.done", "--payload", JSON.stringify({ token: "TOKEN-c-event" }), "--redis-url", redisUrl, "--prefix", install.prefix],
        { env: install.env },
      );
      expect(pushed.stderr).toBe("");
      expect(pushed.code).toBe(0);
      fake.injectMessage({ userId: FRIEND, text: "second TOKEN-c2" });
      await waitFor(() => {
        const queued = readDaemonStatus(install.stateDir)?.queued;
        return queued?.telegram === 1 && queued.background === 1;
      }, "the event and the second message to wait in the daemon's queue");
      expect(model.requests.length - from).toBe(1);
      release();
      const sent = await fake.waitForSent(
        (s) => to(s, OWNER).includes("re TOKEN-c1") && to(s, FRIEND).includes("re TOKEN-c2") && to(s, OWNER).includes("re TOKEN-c-event"),
        20_000,
      );
      expect(tokensAsked(from)).toEqual([["TOKEN-c1"], ["TOKEN-c2"], ["TOKEN-c-event"]]);
      expect(to(sent, FRIEND)).not.toContain("re TOKEN-c-event");
    } finally {
      release();
    }
  });

  it("does not send HEARTBEAT_OK", async () => {
    const keys = sessionKeys(install.prefix, "gateway");
    await pushToSession(redis, { prefix: install.prefix, sessionId: "gateway", event: createEvent({ type: HEARTBEAT_EVENT_TYPE, source: "cron" }) });
    await model.waitForRequest("HEARTBEAT_OK");
    await waitFor(async () => (await redis.llen(keys.processing)) === 0 && (await redis.llen(keys.events)) === 0, "the heartbeat to be acknowledged");
    fake.injectMessage({ userId: OWNER, text: "after the heartbeat TOKEN-h1" });
    await sentTo(fake, OWNER, "re TOKEN-h1");
    expect(fake.sent.filter((m) => m.text.includes("HEARTBEAT_OK"))).toEqual([]);
  });

  it("sends a 10,000-character reply as ordered messages within 4,096 characters", async () => {
    expect(LONG_REPLY.length).toBeGreaterThan(10_000);
    const before = to(fake.sent, FRIEND).length;
    fake.injectMessage({ userId: FRIEND, text: "a long one TOKEN-long" });
    const chunks = () => to(fake.sent, FRIEND).slice(before);
    await fake.waitForSent(() => splitProblem(LONG_REPLY, chunks()) === undefined);
    expect(chunks().length).toBeGreaterThanOrEqual(3);
    for (const chunk of chunks()) expect(chunk.length).toBeLessThanOrEqual(4096);
  });

  it("answers /status while a turn runs, and /stop aborts it", async () => {
    const release = model.hold();
    try {
      fake.injectMessage({ userId: FRIEND, text: "slow TOKEN-stop-me" });
      await model.waitForRequest("TOKEN-stop-me");
      fake.injectMessage({ userId: FRIEND, text: "/status" });
      const status = await fake.waitForSent((s) => to(s, FRIEND).some((t) => t.includes("running: Telegram chat 222")));
      expect(to(status, FRIEND).find((t) => t.includes("running:"))).toMatch(/model fake\/fake-1/);
      fake.injectMessage({ userId: FRIEND, text: "/stop" });
      await fake.waitForSent((s) => to(s, FRIEND).includes("Stopped the running turn.") && to(s, FRIEND).includes("Stopped."));
    } finally {
      release();
    }
    fake.injectMessage({ userId: FRIEND, text: "next TOKEN-after-stop" });
    await sentTo(fake, FRIEND, "re TOKEN-after-stop");
    expect(to(fake.sent, FRIEND)).not.toContain("re TOKEN-stop-me");
  });

  it("survives the Bot API answering 500 and 429 for a while, and catches up", async () => {
    fake.failNext("getUpdates", { status: 500, times: 3 });
    fake.failNext("sendMessage", { status: 429, retryAfter: 1, times: 2 });
    // the long poll under way returns f1; the next one is the first that fails
    const mark = fake.requests.length;
    fake.injectMessage({ userId: OWNER, text: "during the outage TOKEN-f1" });
    await fake.waitForRequest((request, index) => index >= mark && request.method === "getUpdates");
    fake.injectMessage({ userId: FRIEND, text: "also during the outage TOKEN-f2" });
    await fake.waitForSent((s) => to(s, OWNER).includes("re TOKEN-f1") && to(s, FRIEND).includes("re TOKEN-f2"), 30_000);
    expect(daemon.child.exitCode).toBeNull();
    expect(daemon.stderr()).toContain("getUpdates failed (500");
    expect(daemon.stderr()).toContain("rate limited (429");
  });

  it("refuses a second daemon on the same bot token, clearly and with a non-zero exit", async () => {
    const second = await startDaemonCli(install, { waitReady: false });
    const code = await second.exited;
    expect(code).toBe(1);
    expect(second.stderr()).toContain("another gateway daemon is already polling this bot");
    fake.injectMessage({ userId: OWNER, text: "still there TOKEN-second" });
    await sentTo(fake, OWNER, "re TOKEN-second");
  });
});

describe("one daemon killed and stopped mid-turn", () => {
  let fake: FakeTelegram;
  let install: DaemonInstall;
  let daemon: DaemonRun | undefined;

  beforeAll(async () => {
    ({ fake, install } = await setUp({ allow: [OWNER], pairing: false }));
    fake.knowChat(OWNER);
  });
  afterAll(async () => {
    daemon?.child.kill("SIGTERM");
    await daemon?.exited;
  });

  it("SIGKILLed mid-turn and restarted, it loses nothing and answers nothing twice", async () => {
    daemon = await startDaemonCli(install);
    const release = model.hold();
    try {
      fake.injectMessage({ userId: OWNER, text: "killed TOKEN-k1" });
      await model.waitForRequest("TOKEN-k1");
      await pushToSession(redis, {
        prefix: install.prefix,
        sessionId: "gateway",
        event: createEvent({ type: "job.done", source: "ci", payload: { token: "TOKEN-k-event" } }),
      });
      await waitFor(() => readDaemonStatus(install.stateDir)?.queued.background === 1, "the event to wait in the daemon's queue");
      daemon.child.kill("SIGKILL");
      await daemon.exited;
    } finally {
      release();
    }
    daemon = await startDaemonCli(install);
    await fake.waitForSent((s) => to(s, OWNER).includes("re TOKEN-k1") && to(s, OWNER).includes("re TOKEN-k-event"), 20_000);
    fake.injectMessage({ userId: OWNER, text: "afterwards TOKEN-k2" });
    await sentTo(fake, OWNER, "re TOKEN-k2");
    const owner = to(fake.sent, OWNER);
    expect([count(owner, "re TOKEN-k1"), count(owner, "re TOKEN-k-event"), count(owner, "re TOKEN-k2")]).toEqual([1, 1, 1]);
    expect(await redis.llen(sessionKeys(install.prefix, "gateway").processing)).toBe(0);
  });

  it("SIGTERMed mid-turn, it exits 0 and the input is answered after the restart", async () => {
    const release = model.hold();
    try {
      fake.injectMessage({ userId: OWNER, text: "stopped TOKEN-t1" });
      await model.waitForRequest("TOKEN-t1");
      daemon!.child.kill("SIGTERM");
      expect(await daemon!.exited).toBe(0);
      expect(daemon!.stderr()).toMatch(/SIGTERM: stopping/);
    } finally {
      release();
    }
    daemon = await startDaemonCli(install);
    await sentTo(fake, OWNER, "re TOKEN-t1");
    fake.injectMessage({ userId: OWNER, text: "afterwards TOKEN-t2" });
    await sentTo(fake, OWNER, "re TOKEN-t2");
    expect(count(to(fake.sent, OWNER), "re TOKEN-t1")).toBe(1);
  });
});

it("never shows the bot token: not in any daemon's argv, not in any file but the secrets file, not on stderr", () => {
  expect(allDaemonRuns.length).toBeGreaterThan(4);
  for (const [i, install] of installs.entries()) {
    const token = fakes[i]!.token;
    for (const needle of [token, token.split(":")[1]!]) {
      expect(filesContaining(install.sandbox.home, needle)).toEqual([relative(install.sandbox.home, install.secretsFile)]);
      for (const run of allDaemonRuns) {
        expect(run.stderr()).not.toContain(needle);
        expect(run.cmdline).not.toContain(needle);
      }
    }
  }
  // the daemons that got to run were looked at while they ran (Linux)
  if (existsSync("/proc/self/cmdline")) expect(allDaemonRuns.filter((run) => run.cmdline.includes("daemon")).length).toBeGreaterThan(3);
});
