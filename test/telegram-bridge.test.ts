// The daemon's Telegram bridge against a fake Bot API on 127.0.0.1, with the real grammY client and
// a real redis-server: who gets in, what is persisted when, where replies go, how failures of the
// Bot API are survived, and that the token never shows.

import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { chatKnown, checkBotToken, deleteWebhook, normaliseApiRoot, webhookUrl } from "../src/runtime/daemon/telegram/api.ts";
import { TelegramBridge, type TelegramBridgeOptions } from "../src/runtime/daemon/telegram/bridge.ts";
import { readTelegramHealth } from "../src/runtime/daemon/telegram/health.ts";
import { pollerLockKey, telegramKeys } from "../src/runtime/daemon/telegram/keys.ts";
import { redeemPairingCode } from "../src/runtime/daemon/telegram/pairing.ts";
import { START_ANSWER } from "../src/runtime/daemon/telegram/updates.ts";
import type { DaemonControl, DaemonInput } from "../src/runtime/daemon/types.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { FAKE_BOT, type FakeTelegram, splitProblem, startFakeTelegram } from "./helpers/fake-telegram.ts";
import { startReplyDroppingRedis } from "./helpers/reply-dropping-redis.ts";
import { waitFor } from "./helpers/wait.ts";

const redis = new Redis(inject("redisUrl"));
const OWNER = 111;
const FRIEND = 222;
const STRANGER = 999;

/** every line any bridge logged in this file: the token must be in none of them */
const allLogs: string[] = [];
const tokens = new Set<string>();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  for (const token of tokens) {
    expect(allLogs.filter((line) => line.includes(token))).toEqual([]);
    expect(allLogs.filter((line) => line.includes(token.split(":")[1]!))).toEqual([]);
  }
  redis.disconnect();
});

interface Harness {
  fake: FakeTelegram;
  bridge: TelegramBridge;
  prefix: string;
  inputs: DaemonInput[];
  logs: string[];
  control: RecordingControl;
  options: TelegramBridgeOptions;
  /** a second bridge on the same fake and prefix (a restart, or a second daemon) */
  another(overrides?: Partial<TelegramBridgeOptions>): TelegramBridge;
}

interface RecordingControl extends DaemonControl {
  calls: string[];
}

function recordingControl(): RecordingControl {
  const calls: string[] = [];
  return {
    calls,
    status: () => {
      calls.push("status");
      return "queue: 0 human, 0 background; model fake/fake-1";
    },
    stop: async () => {
      calls.push("stop");
      return true;
    },
    newSession: async () => {
      calls.push("new");
    },
  };
}

async function harness(
  overrides: Partial<TelegramBridgeOptions> = {},
  { start = true, fake: givenFake }: { start?: boolean; fake?: FakeTelegram } = {},
): Promise<Harness> {
  const fake = givenFake ?? (await startFakeTelegram());
  if (!givenFake) cleanups.push(() => fake.close());
  tokens.add(fake.token);
  const prefix = randomPrefix();
  const inputs: DaemonInput[] = [];
  const logs: string[] = [];
  const control = recordingControl();
  const options: TelegramBridgeOptions = {
    token: fake.token,
    apiRoot: `${fake.apiRoot}/`,
    allow: [OWNER, FRIEND],
    pairing: false,
    redis,
    prefix,
    control,
    log: (line) => {
      logs.push(line);
      allLogs.push(line);
    },
    restartPauseMs: 300,
    pollTimeoutSeconds: 1,
    initialBackoffMs: 50,
    maxBackoffMs: 400,
    forbiddenRetryMs: 300,
    ...overrides,
  };
  const make = (more: Partial<TelegramBridgeOptions> = {}): TelegramBridge => {
    const bridge = new TelegramBridge({ ...options, ...more });
    bridge.onInput((input) => inputs.push(input));
    cleanups.push(() => bridge.stop());
    return bridge;
  };
  const bridge = make();
  if (start) await bridge.start();
  return { fake, bridge, prefix, inputs, logs, control, options, another: make };
}

async function sentOnce(bridge: TelegramBridge, fake: FakeTelegram, text: string): Promise<void> {
  await bridge.deliver({ kind: "background" }, text);
  await fake.waitForSent((all) => all.some((message) => message.text === text));
}

/** The client with its rpush replaced; every other command goes to the real one. */
function withRpush(real: Redis, rpush: Redis["rpush"]): Redis {
  return new Proxy(real, {
    get(target, property) {
      if (property === "rpush") return rpush;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function waitForInput(inputs: readonly DaemonInput[], text: string): Promise<void> {
  return waitFor(
    () => inputs.some((input) => input.text === text),
    () => `input ${JSON.stringify(text)}; got ${JSON.stringify(inputs.map((i) => i.text))}`,
  );
}

describe("who may talk to the bot", () => {
  it("drops a user who is not allowed, silently, and persists nothing of theirs", async () => {
    const { fake, bridge, inputs } = await harness();
    fake.injectMessage({ userId: STRANGER, text: "let me in" });
    fake.injectMessage({ userId: OWNER, chatId: OWNER, text: "group hello", chatType: "group" });
    fake.injectMessage({ userId: OWNER, text: "hello" });
    await waitForInput(inputs, "hello");
    expect(inputs.map((input) => input.text)).toEqual(["hello"]);
    expect((await bridge.pending()).map((input) => input.text)).toEqual(["hello"]);
    expect(fake.requests.filter((request) => request.method === "sendMessage")).toEqual([]);
  });

  it("gives an unknown user only a pairing code (the same one within the hour); redeeming it admits them", async () => {
    const { fake, bridge, inputs, prefix } = await harness({ allow: [OWNER], pairing: true });
    fake.injectMessage({ userId: STRANGER, text: "hi, who are you?" });
    const [first] = await fake.waitForSent((sent) => sent.length === 1);
    expect(first!.chatId).toBe(STRANGER);
    const code = /pairing code is ([A-Z2-9]{8})\b/.exec(first!.text)?.[1];
    expect(code, first!.text).toMatch(/^[A-HJKMNP-Z2-9]{8}$/);
    expect(first!.text).toContain(`gateway-setup pair ${code}`);

    fake.injectMessage({ userId: STRANGER, text: "please?" });
    const sent = await fake.waitForSent((all) => all.length === 2);
    expect(sent[1]).toMatchObject({ chatId: STRANGER, text: first!.text });
    expect(inputs).toEqual([]);
    expect(await bridge.pending()).toEqual([]);
    expect(await redis.ttl(`${telegramKeys(prefix).pairingPrefix}${code}`)).toBeGreaterThan(3500);

    expect(await redeemPairingCode(redis, prefix, code!.toLowerCase())).toEqual({ userId: STRANGER, chatId: STRANGER });
    expect(await redeemPairingCode(redis, prefix, code!)).toBeUndefined();
    expect(await redeemPairingCode(redis, prefix, "NOSUCH22")).toBeUndefined();
    fake.injectMessage({ userId: STRANGER, text: "am I in now?" });
    await waitForInput(inputs, "am I in now?");
    expect(inputs[0]!.origin).toMatchObject({ kind: "telegram", chatId: STRANGER, userId: STRANGER });
    expect(fake.sent).toHaveLength(2);
  });

  it("refuses to be built open to everyone", async () => {
    await expect(harness({ allow: [], pairing: false }, { start: false })).rejects.toThrow(/empty allowlist with pairing off/);
  });
});

describe("inputs", () => {
  it("persists two allowed users' messages, each with its own chat, before telling the daemon", async () => {
    const { fake, bridge, inputs } = await harness();
    const ownerUpdate = fake.injectMessage({ userId: OWNER, text: "from the owner" });
    const friendUpdate = fake.injectMessage({ userId: FRIEND, text: "from a friend" });
    await waitForInput(inputs, "from a friend");
    expect(inputs).toEqual([
      { id: `tg:${ownerUpdate}`, origin: { kind: "telegram", chatId: OWNER, userId: OWNER, updateId: ownerUpdate }, text: "from the owner", priority: "human" },
      {
        id: `tg:${friendUpdate}`,
        origin: { kind: "telegram", chatId: FRIEND, userId: FRIEND, updateId: friendUpdate },
        text: "from a friend",
        priority: "human",
      },
    ]);
    expect(await bridge.pending()).toEqual(inputs);
  });

  it("keeps inputs across a restart until they are acknowledged, and never persists a re-served update twice", async () => {
    const { fake, bridge, inputs, another } = await harness();
    fake.injectMessage({ userId: OWNER, text: "/remember this" });
    await waitForInput(inputs, "/remember this");
    await bridge.stop();

    // Telegram serves the update again (as after a crash before the confirmation reached it)
    fake.replayConfirmed();
    const restarted = another();
    await restarted.start();
    expect((await restarted.pending()).map((input) => input.text)).toEqual(["/remember this"]);
    fake.injectMessage({ userId: OWNER, text: "second" });
    await waitForInput(inputs, "second");
    expect(fake.unconfirmed).toBe(0);
    const pending = await restarted.pending();
    expect(pending.map((input) => input.text)).toEqual(["/remember this", "second"]);
    expect(inputs.map((input) => input.text)).toEqual(["/remember this", "second"]);

    await restarted.ack(pending[0]!);
    expect((await restarted.pending()).map((input) => input.text)).toEqual(["second"]);
  });

  it("leaves an update it could not persist unconfirmed, so it comes again and is persisted then", async () => {
    const { fake, bridge, inputs, logs, prefix } = await harness();
    await redis.set(telegramKeys(prefix).inbox, "not a list");
    const updateId = fake.injectMessage({ userId: OWNER, text: "do not lose me" });
    await waitFor(
      () => logs.some((line) => line.includes(`handling update ${updateId} failed`)),
      () => `the failure logged; logs: ${logs.join(" | ")}`,
    );
    expect(inputs).toEqual([]);
    await redis.del(telegramKeys(prefix).inbox);
    await waitForInput(inputs, "do not lose me");
    expect((await bridge.pending()).map((input) => input.text)).toEqual(["do not lose me"]);
  });

  it("answers /status, /stop and /new itself and passes other commands to the model", async () => {
    const { fake, inputs, control } = await harness();
    fake.injectMessage({ userId: OWNER, text: "/status" });
    fake.injectMessage({ userId: OWNER, text: `/stop@${FAKE_BOT.username}` });
    fake.injectMessage({ userId: FRIEND, text: "/new" });
    fake.injectMessage({ userId: OWNER, text: "/stop@some_other_bot" });
    fake.injectMessage({ userId: OWNER, text: "/deploy now" });
    const sent = await fake.waitForSent((all) => all.length === 3);
    await waitForInput(inputs, "/deploy now");
    expect(control.calls).toEqual(["status", "stop", "new"]);
    expect(sent.map((message) => [message.chatId, message.text])).toEqual([
      [OWNER, "queue: 0 human, 0 background; model fake/fake-1"],
      [OWNER, "Stopped the running turn."],
      [FRIEND, "Started a fresh session."],
    ]);
    expect(inputs.map((input) => input.text)).toEqual(["/stop@some_other_bot", "/deploy now"]);
  });

  it("answers a message that is not text briefly and persists nothing", async () => {
    const { fake, bridge, inputs } = await harness();
    fake.injectMessage({ userId: OWNER });
    const [answer] = await fake.waitForSent((all) => all.length === 1);
    expect(answer).toMatchObject({ chatId: OWNER, text: "I understand only text messages." });
    fake.injectMessage({ userId: OWNER, text: "text now" });
    await waitForInput(inputs, "text now");
    expect((await bridge.pending()).map((input) => input.text)).toEqual(["text now"]);
  });
});

describe("replies", () => {
  it("sends a 10,000-character reply as ordered messages within 4,096 units, to its own chat", async () => {
    const { fake, bridge, prefix } = await harness();
    fake.knowChat(OWNER);
    fake.knowChat(FRIEND);
    const reply = Array.from({ length: 40 }, (_, i) => `Paragraph ${i}. ${"All work and no play. ".repeat(11)}`).join("\n\n");
    expect(reply.length).toBeGreaterThan(10_000);
    await bridge.deliver({ kind: "telegram", chatId: FRIEND, userId: FRIEND, updateId: 1 }, reply);
    await bridge.deliver({ kind: "telegram", chatId: OWNER, userId: OWNER, updateId: 2 }, "short one");
    const sent = await fake.waitForSent((all) => all.some((message) => message.text === "short one"));
    const toFriend = sent.filter((message) => message.chatId === FRIEND).map((message) => message.text);
    expect(toFriend.length).toBe(3);
    expect(splitProblem(reply, toFriend)).toBeUndefined();
    expect(sent.filter((message) => message.chatId === OWNER).map((message) => message.text)).toEqual(["short one"]);
    const lastReply = await redis.hget(telegramKeys(prefix).lastReply, String(FRIEND));
    expect(JSON.parse(lastReply!)).toMatchObject({ chunks: 3 });
    await waitFor(async () => (await redis.llen(telegramKeys(prefix).outbox)) === 0, "the outbox to empty");
  });

  it("sends background, heartbeat and alert replies to the owner, or to the notify chats; nothing for empty text", async () => {
    const { fake, bridge } = await harness();
    fake.knowChat(OWNER);
    await bridge.deliver({ kind: "background" }, "");
    await bridge.deliver({ kind: "background" }, "the build finished");
    await bridge.deliver({ kind: "heartbeat" }, "disk almost full");
    await fake.waitForSent((all) => all.length === 2);
    expect(fake.sent.map((message) => [message.chatId, message.text])).toEqual([
      [OWNER, "the build finished"],
      [OWNER, "disk almost full"],
    ]);
    await bridge.stop();

    const notified = await harness({ notifyChats: [FRIEND, 333] }, { fake });
    fake.knowChat(FRIEND);
    fake.knowChat(333);
    await notified.bridge.deliver({ kind: "alert" }, "no heartbeat for 2 hours");
    const sent = await fake.waitForSent((all) => all.length === 4);
    expect(sent.slice(2).map((message) => message.chatId)).toEqual([FRIEND, 333]);
  });

  it("keeps a reply to a user who never wrote to the bot, says why, and sends it once they do", async () => {
    const { fake, bridge, logs, inputs } = await harness();
    await bridge.deliver({ kind: "background" }, "are you there?");
    await waitFor(() => bridge.health().lastSendError !== undefined, "a send error");
    expect(bridge.health().lastSendError).toMatchObject({ chatId: OWNER, code: 403 });
    expect(logs.join("\n")).toMatch(/chat 111 refuses the bot's messages .*403.*send \/start once/);
    fake.injectMessage({ userId: OWNER, text: "/start" });
    await fake.waitForSent((all) => all.some((message) => message.chatId === OWNER && message.text === "are you there?"));
    // /start is answered by the bridge itself, and never reaches the model
    await fake.waitForSent((all) => all.some((message) => message.chatId === OWNER && message.text === START_ANSWER));
    expect(inputs.map((input) => input.text)).not.toContain("/start");
  });

  it("waits out a 429 and sends each chunk once", async () => {
    const { fake, bridge, logs } = await harness();
    fake.knowChat(OWNER);
    fake.failNext("sendMessage", { status: 429, retryAfter: 1 });
    await bridge.deliver({ kind: "background" }, "after the rate limit");
    await fake.waitForSent((all) => all.length === 1);
    expect(fake.requests.filter((request) => request.method === "sendMessage")).toHaveLength(2);
    expect(logs.join("\n")).toMatch(/rate limited \(429: Too Many Requests: retry after 1\), waiting 1 s/);
  });

  it("resumes a long reply after a failed chunk without sending the chunks before it again", async () => {
    const { fake, bridge } = await harness();
    fake.knowChat(OWNER);
    fake.failNext("sendMessage", { status: 500, after: 1, times: 2 });
    const reply = Array.from({ length: 3 }, (_, i) => `${i}`.repeat(4000)).join("\n\n");
    await bridge.deliver({ kind: "background" }, reply);
    const sent = await fake.waitForSent((all) => all.length === 3);
    expect(sent.map((message) => message.text[0])).toEqual(["0", "1", "2"]);
    expect(fake.requests.filter((request) => request.method === "sendMessage")).toHaveLength(5);
  });

  it("sends what was left in the outbox when it starts, oldest first, then newer replies, each once", async () => {
    const { fake, bridge, prefix } = await harness({}, { start: false });
    fake.knowChat(OWNER);
    await bridge.deliver({ kind: "background" }, "left over 1");
    await bridge.deliver({ kind: "background" }, "left over 2");
    await bridge.start();
    await fake.waitForSent((all) => all.length === 2);
    await bridge.deliver({ kind: "background" }, "new one");
    await fake.waitForSent((all) => all.length === 3);
    await waitFor(async () => (await redis.llen(telegramKeys(prefix).outbox)) === 0, "the outbox to empty");
    await bridge.deliver({ kind: "background" }, "last one");
    await fake.waitForSent((all) => all.length === 4);
    expect(fake.sent.map((message) => message.text)).toEqual(["left over 1", "left over 2", "new one", "last one"]);
  });

  it("shows typing in the chat of a Telegram input, best effort", async () => {
    const { fake, bridge } = await harness();
    bridge.typing({ kind: "background" });
    bridge.typing({ kind: "telegram", chatId: FRIEND, userId: FRIEND, updateId: 5 });
    const request = await fake.waitForRequest((r) => r.method === "sendChatAction");
    expect(request.params).toMatchObject({ chat_id: FRIEND, action: "typing" });
    expect(fake.requests.filter((r) => r.method === "sendChatAction")).toHaveLength(1);
  });

  it("drops a reply Telegram can never accept (400) with a log line and goes on", async () => {
    const { fake, bridge, logs } = await harness();
    fake.knowChat(OWNER);
    fake.failNext("sendMessage", { status: 400, description: "Bad Request: chat not found" });
    await bridge.deliver({ kind: "background" }, "lost cause");
    await bridge.deliver({ kind: "background" }, "next one");
    await fake.waitForSent((all) => all.length === 1);
    expect(fake.sent.map((message) => message.text)).toEqual(["next one"]);
    expect(logs.join("\n")).toContain("dropped a reply to chat 111 that Telegram refuses (400: Bad Request: chat not found)");
    expect(bridge.health().lastSendError).toMatchObject({ code: 400 });
  });

  it("sends a one-message reply while its RPUSH is still on the way, and the outbox ends empty", async () => {
    let hold: Promise<void> | undefined;
    const rpush = ((...args: Parameters<Redis["rpush"]>) => {
      const pushed = redis.rpush(...args); // sent to Redis at once, answered when the hold ends
      return hold ? hold.then(() => pushed) : pushed;
    }) as Redis["rpush"];
    const { fake, bridge, prefix } = await harness({ redis: withRpush(redis, rpush) });
    fake.knowChat(OWNER);
    await sentOnce(bridge, fake, "the sender has read the outbox");
    let release!: () => void;
    hold = new Promise<void>((resolve) => (release = resolve));
    let delivered = false;
    const delivering = bridge.deliver({ kind: "background" }, "early bird").then(() => (delivered = true));
    await fake.waitForSent((all) => all.some((message) => message.text === "early bird"));
    expect(delivered).toBe(false);
    release();
    await delivering;
    await waitFor(async () => (await redis.llen(telegramKeys(prefix).outbox)) === 0, "the outbox to empty");
    expect(fake.sent.map((message) => message.text)).toEqual(["the sender has read the outbox", "early bird"]);
  });

  it("counts a reply as delivered when its RPUSH fails after it went out, and never sends it again", async () => {
    let failure: Promise<never> | undefined;
    const rpush = ((...args: Parameters<Redis["rpush"]>) => failure ?? redis.rpush(...args)) as Redis["rpush"];
    const { fake, bridge, prefix } = await harness({ redis: withRpush(redis, rpush) });
    fake.knowChat(OWNER);
    await sentOnce(bridge, fake, "the sender has read the outbox");
    let fail!: () => void;
    failure = new Promise<never>((_, reject) => (fail = () => reject(new Error("Connection is closed."))));
    failure.catch(() => {});
    const delivering = bridge.deliver({ kind: "background" }, "went out");
    await fake.waitForSent((all) => all.length === 2);
    fail();
    await delivering;
    failure = undefined;
    // the positive signal: a reply after it, through a working RPUSH
    await sentOnce(bridge, fake, "after it");
    await waitFor(async () => (await redis.llen(telegramKeys(prefix).outbox)) === 0, "the outbox to empty");
    expect(fake.sent.map((message) => message.text)).toEqual(["the sender has read the outbox", "went out", "after it"]);
  });

  it("withdraws a reply whose RPUSH failed before it went out: the caller's retry sends it once", async () => {
    let failRpush = false;
    const rpush = ((...args: Parameters<Redis["rpush"]>) =>
      failRpush ? Promise.reject(new Error("Connection is closed.")) : redis.rpush(...args)) as Redis["rpush"];
    const { fake, bridge } = await harness({ redis: withRpush(redis, rpush) });
    fake.knowChat(OWNER);
    fake.failNext("sendMessage", { status: 500, times: Number.POSITIVE_INFINITY });
    // the sender is busy backing off from this one's failures
    await bridge.deliver({ kind: "background" }, "first");
    await fake.waitForRequest((request) => request.method === "sendMessage");
    failRpush = true;
    await expect(bridge.deliver({ kind: "background" }, "second")).rejects.toThrow(/Connection is closed/);
    failRpush = false;
    fake.recover("sendMessage");
    await bridge.deliver({ kind: "background" }, "second");
    await fake.waitForSent((all) => all.some((message) => message.text === "second"));
    await bridge.deliver({ kind: "background" }, "third");
    await fake.waitForSent((all) => all.some((message) => message.text === "third"));
    expect(fake.sent.map((message) => message.text)).toEqual(["first", "second", "third"]);
  });

  it("withdraws a reply whose RPUSH fails while its own first send is failing: it is not sent again before the caller's retry", async () => {
    let failure: Promise<never> | undefined;
    const rpush = ((...args: Parameters<Redis["rpush"]>) => failure ?? redis.rpush(...args)) as Redis["rpush"];
    const { fake, bridge } = await harness({ redis: withRpush(redis, rpush), initialBackoffMs: 200 });
    fake.knowChat(OWNER);
    await sentOnce(bridge, fake, "the sender has read the outbox");
    let fail!: () => void;
    failure = new Promise<never>((_, reject) => (fail = () => reject(new Error("Connection is closed."))));
    failure.catch(() => {});
    fake.failNext("sendMessage", { status: 500 });
    const delivering = bridge.deliver({ kind: "background" }, "unlucky");
    // its first send failed; the sender backs off before trying again
    await fake.waitForRequest((request) => request.method === "sendMessage" && request.params.text === "unlucky");
    fail();
    await expect(delivering).rejects.toThrow(/Connection is closed/);
    failure = undefined;
    await sentOnce(bridge, fake, "unlucky");
    await sentOnce(bridge, fake, "after it");
    expect(fake.sent.map((message) => message.text)).toEqual(["the sender has read the outbox", "unlucky", "after it"]);
  });

  it("survives the Bot API answering 500 for a while, then catches up on polling and sending", async () => {
    const { fake, bridge, inputs, logs } = await harness();
    fake.knowChat(OWNER);
    await waitFor(() => bridge.health().polling, "polling");
    fake.failNext("*", { status: 500, times: Number.POSITIVE_INFINITY });
    await bridge.deliver({ kind: "background" }, "sent after the outage");
    await waitFor(() => bridge.health().lastError?.code === 500, "the 500 in health");
    fake.injectMessage({ userId: OWNER, text: "written during the outage" });
    await fake.waitForRequest((_, index) => fake.requests.slice(0, index + 1).filter((r) => r.method === "sendMessage").length >= 3);
    expect(inputs).toEqual([]);
    fake.recover();
    await waitForInput(inputs, "written during the outage");
    await fake.waitForSent((all) => all.some((message) => message.text === "sent after the outage"));
    expect(fake.sent.filter((message) => message.text === "sent after the outage")).toHaveLength(1);
    await waitFor(() => logs.includes("telegram: polling works again"), "polling working again");
    expect(bridge.health().polling).toBe(true);
    expect(logs.join("\n")).toMatch(/getUpdates failed \(500: Internal Server Error\)/);
    expect(logs.join("\n")).toContain("polling works again");
  });
});

describe("a Redis reply lost on the way back (ioredis sends the command again after reconnecting)", () => {
  /** A client whose connection goes through a proxy that can lose one reply. */
  async function droppingClient() {
    const proxy = await startReplyDroppingRedis(inject("redisUrl"));
    const client = new Redis(proxy.url);
    cleanups.push(async () => {
      client.disconnect();
      await proxy.close();
    });
    return { proxy, client };
  }

  it("still hands a message over, once, when the reply to persisting it was lost", async () => {
    const { proxy, client } = await droppingClient();
    const { fake, bridge, inputs } = await harness({ redis: client });
    // Redis knows the script after this one, so the command that loses its reply is the one that ran
    fake.injectMessage({ userId: OWNER, text: "the first one" });
    await waitForInput(inputs, "the first one");
    const dropped = proxy.dropReplyTo("persisted, reply lost");
    fake.injectMessage({ userId: OWNER, text: "persisted, reply lost" });
    await dropped;
    await waitForInput(inputs, "persisted, reply lost");
    fake.injectMessage({ userId: OWNER, text: "the next one" });
    await waitForInput(inputs, "the next one");
    const texts = ["the first one", "persisted, reply lost", "the next one"];
    expect(inputs.map((input) => input.text)).toEqual(texts);
    expect((await bridge.pending()).map((input) => input.text)).toEqual(texts);
  });

  it("still answers a command when the reply to marking its update handled was lost", async () => {
    const { proxy, client } = await droppingClient();
    const { fake, prefix, control } = await harness({ redis: client });
    fake.knowChat(OWNER);
    fake.injectMessage({ userId: OWNER, text: "/status" });
    await fake.waitForSent((all) => all.length === 1);
    const dropped = proxy.dropReplyTo(telegramKeys(prefix).handledPrefix);
    fake.injectMessage({ userId: OWNER, text: "/status" });
    await dropped;
    await fake.waitForSent((all) => all.length === 2);
    expect(control.calls).toEqual(["status", "status"]);
    expect(fake.sent.map((message) => message.text.slice(0, 6))).toEqual(["queue:", "queue:"]);
  });

  it("sends a reply once and leaves no copy in the outbox when the reply to its RPUSH was lost", async () => {
    const { proxy, client } = await droppingClient();
    const { fake, bridge, prefix } = await harness({ redis: client });
    fake.knowChat(OWNER);
    await sentOnce(bridge, fake, "before");
    const dropped = proxy.dropReplyTo("pushed, reply lost");
    await bridge.deliver({ kind: "background" }, "pushed, reply lost");
    await dropped;
    await fake.waitForSent((all) => all.some((message) => message.text === "pushed, reply lost"));
    await waitFor(async () => (await redis.llen(telegramKeys(prefix).outbox)) === 0, "the outbox to empty");
    await sentOnce(bridge, fake, "after");
    expect(fake.sent.map((message) => message.text)).toEqual(["before", "pushed, reply lost", "after"]);
  });
});

describe("polling supervision", () => {
  it("records a revoked token (401), keeps the daemon up, and polls again once the token works", async () => {
    const { fake, bridge, inputs, logs, prefix } = await harness();
    await waitFor(() => bridge.health().polling, "polling");
    fake.revokeToken();
    await waitFor(
      () => bridge.health().lastError?.code === 401,
      () => `a 401 in health: ${JSON.stringify(bridge.health())}`,
    );
    expect(bridge.health().polling).toBe(false);
    expect(logs.join("\n")).toMatch(/polling stopped: 401: Unauthorized; the bot token was revoked or is wrong.*@BotFather/);
    expect((await readTelegramHealth(redis, prefix))?.lastError?.code).toBe(401);
    fake.restoreToken();
    fake.injectMessage({ userId: OWNER, text: "back again" });
    await waitForInput(inputs, "back again");
    expect(bridge.health()).toMatchObject({ polling: true, botUsername: FAKE_BOT.username, lastError: { code: 401 } });
  });

  it("records a conflict (409) and a webhook that blocks polling, and resumes after them", async () => {
    const { fake, bridge, inputs, logs } = await harness();
    await waitFor(() => bridge.health().polling, "polling");
    fake.failNext("getUpdates", { status: 409 });
    await waitFor(() => bridge.health().lastError?.code === 409, "a 409 in health");
    expect(logs.join("\n")).toMatch(/polling stopped: 409: Conflict: terminated by other getUpdates request.*another program polls this bot/);
    fake.injectMessage({ userId: OWNER, text: "after the conflict" });
    await waitForInput(inputs, "after the conflict");

    fake.setWebhook("https://example.invalid/hook");
    await waitFor(() => (bridge.health().lastError?.description ?? "").includes("webhook is active"), "the webhook's 409 in health");
    fake.injectMessage({ userId: OWNER, text: "after the webhook" });
    await waitForInput(inputs, "after the webhook");
    expect(fake.webhookUrl).toBe("");
  });

  it("lets only one bridge poll a token: a second one refuses to start until the first stopped", async () => {
    const { bridge, another } = await harness();
    const second = another();
    await expect(second.start()).rejects.toThrow(/^another gateway daemon is already polling this bot \(lock held by [^/]+\/\d+\); stop it first$/);
    await bridge.stop();
    await second.start();
    await waitFor(() => second.health().polling, "the second bridge polling");
  });

  it("takes over the lock of a daemon that died on this machine", async () => {
    const fake = await startFakeTelegram();
    cleanups.push(() => fake.close());
    const { bridge, prefix } = await harness({}, { start: false, fake });
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    const key = pollerLockKey(prefix, fake.token);
    await redis.set(key, JSON.stringify({ owner: `${hostname()}:${dead}:deadbeef`, pid: dead, host: hostname(), startedAt: 1 }), "PX", 30_000);
    await bridge.start();
    await waitFor(() => bridge.health().polling, "polling");
    expect(JSON.parse((await redis.get(key))!).pid).toBe(process.pid);
  });

  it("stops cleanly: no poll after stop(), and the lock is given back", async () => {
    const { fake, bridge, prefix } = await harness();
    await waitFor(() => bridge.health().polling, "polling");
    fake.knowChat(OWNER);
    await bridge.deliver({ kind: "background" }, "one last thing");
    await fake.waitForSent((all) => all.length === 1);
    await bridge.stop();
    const count = fake.requests.length;
    expect(await redis.keys(`${prefix}:telegram:poller:*`)).toEqual([]);
    fake.injectMessage({ userId: OWNER, text: "nobody listens" });
    // a request that went through the fake after the message: a poller still running would have fetched it by now
    await checkBotToken(fake.token, fake.apiRoot);
    expect(fake.requests.slice(count).map((request) => request.method)).toEqual(["getMe"]);
    expect(fake.unconfirmed).toBe(1);
  });
});

describe("the token", () => {
  it("checks a token with getMe and never puts it into a message", async () => {
    const fake = await startFakeTelegram();
    cleanups.push(() => fake.close());
    expect(await checkBotToken(fake.token, `${fake.apiRoot}/`)).toEqual({ ok: true, username: FAKE_BOT.username, id: FAKE_BOT.id });
    const wrong = "123456789:AAWrongTokenWrongTokenWrongToken";
    expect(await checkBotToken(wrong, fake.apiRoot)).toEqual({ ok: false, status: 401, message: "Unauthorized" });
    const unreachable = await checkBotToken(fake.token, "http://127.0.0.1:1");
    expect(unreachable.ok).toBe(false);
    expect(JSON.stringify(unreachable)).not.toContain(fake.token);
    expect(await checkBotToken("not a token", fake.apiRoot)).toMatchObject({ ok: false, message: expect.stringMatching(/not a bot token/) });
    expect(await chatKnown(fake.token, fake.apiRoot, OWNER)).toEqual({ ok: true, result: false });
    fake.injectMessage({ userId: OWNER, text: "/start" });
    expect(await chatKnown(fake.token, fake.apiRoot, OWNER)).toEqual({ ok: true, result: true });
    fake.setWebhook("https://example.invalid/hook");
    expect(await webhookUrl(fake.token, fake.apiRoot)).toEqual({ ok: true, result: "https://example.invalid/hook" });
    expect(await deleteWebhook(fake.token, fake.apiRoot)).toEqual({ ok: true, result: true });
    expect(await webhookUrl(fake.token, fake.apiRoot)).toEqual({ ok: true, result: "" });
    expect(normaliseApiRoot("http://127.0.0.1:8081//")).toBe("http://127.0.0.1:8081");
    expect(normaliseApiRoot(undefined)).toBe("https://api.telegram.org");
  });

  it("scrubs the token from what it logs when the Bot API cannot be reached", async () => {
    const fake = await startFakeTelegram();
    const apiRoot = fake.apiRoot;
    await fake.close();
    const { logs, bridge, prefix } = await harness({ apiRoot }, { fake });
    await waitFor(
      () => logs.some((line) => line.includes("ECONNREFUSED")),
      () => `a network error logged; logs: ${logs.join(" | ")}`,
    );
    expect(bridge.health().lastError?.code).toBe(0);
    expect(logs.join("\n")).toContain("<token>");
    expect(await redis.get(telegramKeys(prefix).health)).not.toContain(fake.token);
  });
});
