// Tier 4's daemon core against the real pi SDK (the fake model), the suite's redis-server, a
// recording reply sink and an in-memory input source: one turn per input, human first, every
// reply to its origin, acknowledged only after the reply was delivered, nothing lost to a shutdown.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { DaemonConfig } from "../src/runtime/daemon/config.ts";
import { type Daemon, startDaemon } from "../src/runtime/daemon/daemon.ts";
import { readDaemonStatus } from "../src/runtime/daemon/status-file.ts";
import { readLastHeartbeat } from "../src/runtime/extension/heartbeat.ts";
import { formatEvents } from "../src/runtime/extension/message.ts";
import { createEvent, HEARTBEAT_EVENT_TYPE } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { type DaemonHome, daemonHome, MemoryInputSource, RecordingSink, telegramInput, writeMarkerExtension } from "./helpers/daemon.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type ChatRequest, type FakeModel, newestUserTexts, requestText, startFakeModel } from "./helpers/fake-model.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
let model: FakeModel;

/** Every input of these tests carries a TOKEN-...; the model answers "re <token>". */
function echoToken(request: ChatRequest): string {
  const token = (newestUserTexts(request)
    .join("\n")
    .match(/TOKEN-[\w-]+/) ?? ["(no token)"])[0];
  return `re ${token}`;
}

beforeAll(async () => {
  model = await startFakeModel({ reply: echoToken });
});
afterAll(async () => {
  await model.close();
  redis.disconnect();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  model.setReply(echoToken);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Started {
  daemon: Daemon;
  sink: RecordingSink;
  source: MemoryInputSource;
  home: DaemonHome;
  keys: ReturnType<typeof sessionKeys>;
}

function home(config: Partial<DaemonConfig> = {}): DaemonHome {
  const created = daemonHome(model, { prefix: randomPrefix(), redisUrl, config });
  cleanups.push(created.cleanup);
  return created;
}

async function start(options: { home?: DaemonHome; source?: MemoryInputSource; sink?: RecordingSink } = {}): Promise<Started> {
  const daemonDir = options.home ?? home();
  const sink = options.sink ?? new RecordingSink();
  const source = options.source ?? new MemoryInputSource();
  const daemon = await startDaemon(daemonDir.config, { inputs: [source], sink, log: () => {} });
  cleanups.push(() => daemon.shutdown());
  const keys = sessionKeys(daemonDir.config.prefix, "gateway");
  await waitFor(
    () => daemon.status().includes("Redis listening"),
    () => `the daemon to listen on Redis: ${daemon.status()}`,
  );
  return { daemon, sink, source, home: daemonDir, keys };
}

/** the requests since `from` that carry this token */
function requestsWith(token: string, from = 0): ChatRequest[] {
  return model.requests.slice(from).filter((request) => newestUserTexts(request).join("\n").includes(token));
}

describe("the daemon's command queue", () => {
  it("answers a Redis event in one turn, to the background origin, and acknowledges it only after the reply was delivered", async () => {
    const { sink, home: daemonDir, keys } = await start();
    const release = model.hold();
    const event = createEvent({ id: "ev-1", type: "job.done", source: "ci", payload: { token: "TOKEN-ev1" } });
    // the way in that producers written for tier 1 use: the daemon folds `main`
    await pushToSession(redis, { prefix: daemonDir.config.prefix, sessionId: "main", event });
    const request = await model.waitForRequest("TOKEN-ev1");
    expect(newestUserTexts(request)).toEqual([formatEvents([event], "gateway")]);
    expect(await redis.llen(keys.processing)).toBe(1);

    let inProcessingAtDelivery = -1;
    sink.beforeDeliver = async () => {
      inProcessingAtDelivery = await redis.llen(keys.processing);
    };
    release();
    await sink.waitForDelivery((d) => d.text === "re TOKEN-ev1", "the event's reply");
    expect(sink.deliveries).toEqual([{ origin: { kind: "background" }, text: "re TOKEN-ev1" }]);
    expect(inProcessingAtDelivery).toBe(1);
    await waitFor(async () => (await redis.llen(keys.processing)) === 0, "the event to leave processing");
    expect(await redis.exists(`${keys.seenPrefix}ev-1`)).toBe(1);
    expect(requestsWith("TOKEN-ev1")).toHaveLength(1);
  });

  it("runs human and background inputs one turn at a time, human first, each reply to its own origin", async () => {
    const { daemon, sink, source, home: daemonDir } = await start();
    const from = model.requests.length;
    const overlaps: string[] = [];
    model.setReply((request) => {
      // a turn's reply is delivered before the next turn starts: one request per delivery so far, plus this one
      const turns = model.requests.length - from;
      if (turns !== sink.deliveries.length + 1) overlaps.push(`request ${turns} arrived after ${sink.deliveries.length} replies`);
      return echoToken(request);
    });
    const release = model.hold();
    source.push(telegramInput(11, "first TOKEN-h1"));
    await model.waitForRequest("TOKEN-h1");
    const event = createEvent({ id: "ev-2", type: "job.done", source: "ci", payload: { token: "TOKEN-bg" } });
    await pushToSession(redis, { prefix: daemonDir.config.prefix, sessionId: "gateway", event });
    source.push(telegramInput(12, "second TOKEN-h2"));
    await waitFor(
      () => daemon.status().includes("queue: 1 telegram, 1 background"),
      () => `both to wait in the queue: ${daemon.status()}`,
    );
    expect(model.requests.length - from).toBe(1);

    release();
    await waitFor(
      () => sink.deliveries.length === 3,
      () => `three replies: ${JSON.stringify(sink.deliveries)}`,
    );
    const order = model.requests.slice(from).map((request) => echoToken(request));
    expect(order).toEqual(["re TOKEN-h1", "re TOKEN-h2", "re TOKEN-bg"]);
    expect(sink.to(11)).toEqual(["re TOKEN-h1"]);
    expect(sink.to(12)).toEqual(["re TOKEN-h2"]);
    expect(sink.ofKind("background")).toEqual(["re TOKEN-bg"]);
    expect(overlaps).toEqual([]);
    await waitFor(() => source.acked.length === 2, "both human inputs to be acknowledged");
    expect(sink.typed.map((origin) => origin.kind)).toContain("telegram");
  });

  it("keeps HEARTBEAT_OK to itself and delivers any other heartbeat reply; the checklist goes to the model", async () => {
    const daemonDir = home();
    const checklistFile = join(daemonDir.root, "HEARTBEAT.md");
    writeFileSync(checklistFile, "- the nightly backup ran\n");
    const lastHeartbeatFile = join(daemonDir.root, "state", "last-heartbeat.json");
    daemonDir.config.heartbeat = { intervalSeconds: 3600, checklistFile, lastHeartbeatFile };
    const { sink, keys } = await start({ home: daemonDir });
    model.setReply((request) => (newestUserTexts(request).join("\n").includes("heartbeat from cron-quiet") ? "HEARTBEAT_OK" : "The backup is 3 days old."));
    const prefix = daemonDir.config.prefix;
    const quiet = createEvent({ id: "hb-1", type: HEARTBEAT_EVENT_TYPE, source: "cron-quiet" });
    await pushToSession(redis, { prefix, sessionId: "gateway", event: quiet });
    const request = await model.waitForRequest("heartbeat from cron-quiet");
    expect(requestText(request)).toContain("- the nightly backup ran");
    expect(requestText(request)).toContain("reply with exactly HEARTBEAT_OK");
    await waitFor(() => readLastHeartbeat(lastHeartbeatFile)?.acknowledgedAt !== undefined, "the heartbeat to be recorded as acknowledged");
    await waitFor(async () => (await redis.llen(keys.processing)) === 0, "the quiet heartbeat to be acknowledged in Redis");

    const loud = createEvent({ id: "hb-2", type: HEARTBEAT_EVENT_TYPE, source: "cron-loud" });
    await pushToSession(redis, { prefix, sessionId: "gateway", event: loud });
    await sink.waitForDelivery((d) => d.text === "The backup is 3 days old.", "the heartbeat's finding");
    expect(sink.deliveries).toEqual([{ origin: { kind: "heartbeat" }, text: "The backup is 3 days old." }]);
    expect(readLastHeartbeat(lastHeartbeatFile)?.eventId).toBe("hb-2");
  });

  it("alerts the owner once when heartbeats stop, and again after they resumed and stopped", async () => {
    const daemonDir = home();
    const checklistFile = join(daemonDir.root, "HEARTBEAT.md");
    writeFileSync(checklistFile, "- all fine\n");
    daemonDir.config.heartbeat = { intervalSeconds: 0.5, checklistFile, lastHeartbeatFile: join(daemonDir.root, "state", "last-heartbeat.json") };
    const { sink } = await start({ home: daemonDir });
    model.setReply("HEARTBEAT_OK");
    const alarms = () => sink.ofKind("alert").filter((text) => text.startsWith("[gateway watchdog] No heartbeat"));
    await waitFor(() => alarms().length === 1, "the first alarm");
    const beat = createEvent({ id: "hb-watchdog", type: HEARTBEAT_EVENT_TYPE, source: "cron" });
    await pushToSession(redis, { prefix: daemonDir.config.prefix, sessionId: "gateway", event: beat });
    await model.waitForRequest("heartbeat from cron");
    // still the one alarm of the first outage, however many checks ran since
    expect(alarms()).toHaveLength(1);
    await waitFor(() => alarms().length === 2, "the alarm of the second outage");
    expect(sink.deliveries.filter((d) => d.origin.kind !== "alert")).toEqual([]);
  });

  it("answers a turn that fails once, to the asker or as an alert, and acknowledges it (no poison loop)", async () => {
    const { sink, source, home: daemonDir, keys } = await start();
    model.setReply((request) => {
      // the failed turn's message stays in the conversation: only the newest one decides
      if (newestUserTexts(request)[0]?.includes("TOKEN-fail")) throw new Error("model exploded");
      return echoToken(request);
    });
    const input = telegramInput(21, "TOKEN-fail-human");
    source.push(input);
    await sink.waitForDelivery((d) => d.text.startsWith("Sorry, that failed:"), "the failure to reach the asker");
    expect(sink.to(21)).toHaveLength(1);
    await waitFor(() => source.acked.includes(input.id), "the failed input to be acknowledged");

    const event = createEvent({ id: "ev-fail", type: "job.done", source: "ci", payload: { token: "TOKEN-fail-bg" } });
    await pushToSession(redis, { prefix: daemonDir.config.prefix, sessionId: "gateway", event });
    await sink.waitForDelivery((d) => d.origin.kind === "alert" && d.text.includes("ev-fail"), "the failure alert to the owner");
    await waitFor(async () => (await redis.llen(keys.processing)) === 0, "the failed batch to be acknowledged");
    // the model client retries a 500 itself; the daemon does not hand the batch over again
    const attempts = requestsWith("TOKEN-fail-bg").length;
    const later = createEvent({ id: "ev-later", type: "job.done", source: "ci", payload: { token: "TOKEN-later" } });
    await pushToSession(redis, { prefix: daemonDir.config.prefix, sessionId: "gateway", event: later });
    await sink.waitForDelivery((d) => d.text === "re TOKEN-later", "the next event's reply");
    expect(requestsWith("TOKEN-fail-bg").filter((request) => !newestUserTexts(request)[0]?.includes("TOKEN-later"))).toHaveLength(attempts);
  });
});

describe("the embedded pi", () => {
  let started: Started;
  let markers: { user: string; bridge: string; projectBridge: string };

  beforeAll(async () => {
    const daemonDir = daemonHome(model, { prefix: randomPrefix(), redisUrl });
    const { agentDir, root } = daemonDir;
    markers = { user: join(root, "user-ext"), bridge: join(root, "bridge-ext"), projectBridge: join(root, "project-bridge-ext") };
    writeMarkerExtension(join(agentDir, "extensions", "user-ext", "index.ts"), markers.user, "usercmd");
    writeMarkerExtension(join(agentDir, "extensions", "gateway", "index.ts"), markers.bridge, "gateway-status");
    writeMarkerExtension(join(daemonDir.config.cwd!, ".pi", "extensions", "gateway", "index.ts"), markers.projectBridge, "gateway-status");
    mkdirSync(join(agentDir, "prompts"));
    writeFileSync(join(agentDir, "prompts", "sometemplate.md"), "EXPANDED TEMPLATE with $1\n");
    const sink = new RecordingSink();
    const source = new MemoryInputSource();
    const daemon = await startDaemon(daemonDir.config, { inputs: [source], sink, log: () => {} });
    started = { daemon, sink, source, home: daemonDir, keys: sessionKeys(daemonDir.config.prefix, "gateway") };
  });
  afterAll(async () => {
    await started.daemon.shutdown();
    started.home.cleanup();
  });

  it("loads the user's extensions but never the gateway's own bridge extension", () => {
    expect(readFileSync(markers.user, "utf8")).toBe("loaded");
    expect(existsSync(`${markers.user}.session`)).toBe(true);
    expect(existsSync(markers.bridge)).toBe(false);
    expect(existsSync(markers.projectBridge)).toBe(false);
  });

  it("hands Telegram text to the model verbatim: no prompt template, no extension command", async () => {
    const { source, sink } = started;
    source.push(telegramInput(31, "/sometemplate arg"));
    const templated = await model.waitForRequest((request) => newestUserTexts(request).some((text) => text.includes("sometemplate")));
    expect(newestUserTexts(templated)).toEqual(["/sometemplate arg"]);
    source.push(telegramInput(31, "/usercmd now"));
    const command = await model.waitForRequest((request) => newestUserTexts(request).some((text) => text.includes("usercmd")));
    expect(newestUserTexts(command)).toEqual(["/usercmd now"]);
    await waitFor(() => sink.to(31).length === 2, "both replies");
    expect(existsSync(`${markers.user}.command`)).toBe(false);
    expect(requestText(templated)).not.toContain("EXPANDED TEMPLATE");
  });

  it("starts a fresh conversation on newSession()", async () => {
    const { source, sink, daemon } = started;
    source.push(telegramInput(32, "remember TOKEN-before"));
    await sink.waitForDelivery((d) => d.text === "re TOKEN-before", "the first reply");
    await daemon.newSession();
    source.push(telegramInput(32, "new TOKEN-after"));
    const request = await model.waitForRequest("TOKEN-after");
    expect(requestText(request)).not.toContain("TOKEN-before");
    expect(started.daemon.modelLabel).toBe("fake/fake-1");
  });
});

describe("an extension's context handler", () => {
  it("still changes what the model sees, on a copy: the conversation keeps what was said", async () => {
    const daemonDir = home();
    const extension = join(daemonDir.agentDir, "extensions", "context-ext", "index.ts");
    mkdirSync(join(extension, ".."), { recursive: true });
    // changes the newest user message in place: only pi's copy may carry the mark
    writeFileSync(
      extension,
      [
        "export default function (pi: any) {",
        '  pi.on("context", (event: any) => {',
        '    const user = event.messages.filter((message: any) => message.role === "user").at(-1);',
        '    if (user && typeof user.content === "string") user.content += " CONTEXT-MARK";',
        '    else if (user) user.content = [...user.content, { type: "text", text: " CONTEXT-MARK" }];',
        "  });",
        "}",
        "",
      ].join("\n"),
    );
    const { source, sink } = await start({ home: daemonDir });
    source.push(telegramInput(41, "first TOKEN-one"));
    await sink.waitForDelivery((d) => d.text === "re TOKEN-one", "the first reply");
    source.push(telegramInput(41, "second TOKEN-two"));
    await sink.waitForDelivery((d) => d.text === "re TOKEN-two", "the second reply");
    const [first] = requestsWith("TOKEN-one");
    const second = requestsWith("TOKEN-two").at(-1)!;
    expect(newestUserTexts(first!).join("")).toContain("CONTEXT-MARK");
    expect(newestUserTexts(second).join("")).toContain("CONTEXT-MARK");
    const said = requestText(second);
    expect(said.match(/CONTEXT-MARK/g)).toHaveLength(1);
    expect(said.indexOf("CONTEXT-MARK")).toBeGreaterThan(said.indexOf("TOKEN-two"));
  });
});

describe("stopping", () => {
  it("/stop aborts the running turn, answers it with Stopped. and acknowledges it; /status answers meanwhile", async () => {
    const { daemon, sink, source } = await start();
    expect(await daemon.stop()).toBe(false);
    const release = model.hold();
    cleanups.push(release);
    const input = telegramInput(41, "a long job TOKEN-long");
    source.push(input);
    await model.waitForRequest("TOKEN-long");
    expect(daemon.status()).toMatch(/running: Telegram chat 41 for \d+ s/);
    expect(await daemon.stop()).toBe(true);
    await sink.waitForDelivery((d) => d.text === "Stopped.", "the stopped note");
    expect(sink.to(41)).toEqual(["Stopped."]);
    await waitFor(() => source.acked.includes(input.id), "the stopped input to be acknowledged");
    release();
    source.push(telegramInput(41, "next TOKEN-next"));
    await sink.waitForDelivery((d) => d.text === "re TOKEN-next", "the next reply");
  });

  it("aborts a turn stuck past the limit and tells the owner", async () => {
    const { sink, source } = await start({ home: home({ stuckTurnMs: 1000 }) });
    const release = model.hold();
    cleanups.push(release);
    source.push(telegramInput(42, "TOKEN-stuck"));
    await sink.waitForDelivery((d) => d.origin.kind === "alert" && d.text.includes("Telegram chat 42"), "the stuck-turn alert");
    await sink.waitForDelivery((d) => d.origin.kind === "telegram" && d.text.startsWith("Stopped: this took longer"), "the stuck note to the asker");
  });

  it("shutdown() mid-turn acknowledges nothing; the next daemon answers every input once", async () => {
    const daemonDir = home();
    const first = await start({ home: daemonDir });
    const release = model.hold();
    cleanups.push(release);
    const event = createEvent({ id: "ev-restart", type: "job.done", source: "ci", payload: { token: "TOKEN-ev-restart" } });
    await pushToSession(redis, { prefix: daemonDir.config.prefix, sessionId: "gateway", event });
    await model.waitForRequest("TOKEN-ev-restart");
    const human = telegramInput(43, "TOKEN-h-restart");
    first.source.push(human);
    await waitFor(
      () => first.daemon.status().includes("queue: 1 telegram"),
      () => `the human input to wait: ${first.daemon.status()}`,
    );
    await first.daemon.shutdown();
    expect(first.sink.deliveries).toEqual([]);
    expect(first.source.acked).toEqual([]);
    expect(await redis.llen(first.keys.processing)).toBe(1);
    expect(readDaemonStatus(daemonDir.config.stateDir)?.stoppedAt).toBeGreaterThan(0);
    release();

    const second = await start({ home: daemonDir, source: first.source.reopen() });
    await second.sink.waitForDelivery((d) => d.text === "re TOKEN-ev-restart", "the event's reply after the restart");
    await second.sink.waitForDelivery((d) => d.text === "re TOKEN-h-restart", "the human input's reply after the restart");
    await waitFor(async () => (await redis.llen(second.keys.processing)) === 0, "the event to leave processing");
    expect(second.sink.deliveries.map((d) => d.text)).toEqual(["re TOKEN-h-restart", "re TOKEN-ev-restart"]);

    // the same input again (a source that offers it twice): acknowledged again, never answered twice
    second.source.push(human);
    second.source.push(telegramInput(43, "TOKEN-later"));
    await second.sink.waitForDelivery((d) => d.text === "re TOKEN-later", "the later reply");
    expect(second.sink.to(43)).toEqual(["re TOKEN-h-restart", "re TOKEN-later"]);
    await waitFor(() => second.source.acked.filter((id) => id === human.id).length === 2, "the repeated input to be acknowledged again");
    // the status file gathers changes for a moment before it is rewritten
    await waitFor(() => readDaemonStatus(daemonDir.config.stateDir)?.lastReplies["telegram:43"] !== undefined, "the status file to show the reply");
    const status = readDaemonStatus(daemonDir.config.stateDir);
    expect(status?.lastReplies["telegram:43"]?.preview).toBe("re TOKEN-later");
    expect(status?.model).toBe("fake/fake-1");
  });
});
