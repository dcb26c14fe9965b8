// The gateway extension as pi runs it: loaded from an installed-layout dir with jiti by the
// verification host, against real redis-servers.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { renderSecrets } from "../src/components/redis/secrets.ts";
import type { PlanSettings } from "../src/core/plan.ts";
import type { GatewayConfig } from "../src/runtime/extension/config.ts";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { aliveKey, defaultSessionKey, sessionKeys, smokeAckKey } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { newOwner } from "../src/runtime/protocol/sessions.ts";
import { loadInstalledExtension, VerificationHost } from "../src/verify/host.ts";
import { REPO_ROOT } from "./helpers/cli.ts";
import { createExtensionDir, randomPrefix } from "./helpers/extension-dir.ts";
import { startRedisServer } from "./helpers/redis-server.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

interface Session {
  host: VerificationHost;
  prefix: string;
  keys: ReturnType<typeof sessionKeys>;
}

interface SessionOptions {
  url?: string;
  secretsFile?: string;
  withBundle?: boolean;
  maxBatch?: number;
  prefix?: string;
  config?: Partial<GatewayConfig>;
  busy?: boolean;
  /** the installed mode (tier 1's "single" unless given) */
  mode?: PlanSettings["mode"];
  /** pi's environment as the extension sees it (GATEWAY_ROLE...) */
  env?: Record<string, string>;
}

async function startSession(options: SessionOptions = {}): Promise<Session> {
  const prefix = options.prefix ?? randomPrefix();
  const url = options.url ?? redisUrl;
  const dir = createExtensionDir({
    prefix,
    redisUrl: url,
    ...(options.secretsFile ? { secretsFile: options.secretsFile } : {}),
    ...(options.withBundle === false ? { withBundle: false } : {}),
    ...(options.mode ? { mode: options.mode } : {}),
  });
  const mod = await loadInstalledExtension(dir);
  const host = new VerificationHost();
  await host.load(
    mod.createGatewayExtension(
      { ...mod.gatewayConfig, pollIntervalMs: 1000, ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}), ...options.config },
      options.env,
    ),
  );
  if (options.busy) {
    host.autoTurn = false;
    await host.emit("agent_start", {});
  }
  await host.startSession();
  return { host, prefix, keys: sessionKeys(prefix, "main") };
}

const listening = (host: VerificationHost) => host.statuses.get("gateway")?.startsWith("gateway: listening") === true;
const deliveredIds = (host: VerificationHost) => host.sent.flatMap((m) => [...m.text.matchAll(/ · id (\S+) · /g)].map((match) => match[1]!));

/**
 * The positive signal to take before checking that a session did not do something: two marker
 * events, pushed one after the other to `sessionId` (its own queue), each waited for until pi has
 * it. The drain that hands over the second began after the first was handed over, so it had all
 * that was pushed before this call in view: its own queue, and the inboxes it was told of (a
 * PUBLISH on an inbox's channel before this call). What the session has not handed over by then,
 * it left alone. Needs a pi that takes what it gets (autoTurn).
 */
async function deliverMarkers(session: Pick<Session, "host" | "prefix">, sessionId: string, name: string, client = redis): Promise<string[]> {
  const ids = [`${name}-1`, `${name}-2`];
  for (const id of ids) {
    await pushToSession(client, { prefix: session.prefix, sessionId, event: createEvent({ id, type: "t", source: "s" }) });
    await session.host.waitFor(() => deliveredIds(session.host).includes(id), 10_000, `the marker event ${id}`);
  }
  return ids;
}

describe("gateway extension", () => {
  it("delivers an event pushed with plain redis-cli LPUSH + PUBLISH as one followUp user message", async () => {
    const { host, keys } = await startSession();
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      const port = new URL(redisUrl).port;
      const event = JSON.stringify({ id: "cli-1", type: "job.done", source: "cron", payload: { ok: true }, ts: Date.now() });
      for (const args of [
        ["LPUSH", keys.events, event],
        ["PUBLISH", keys.notify, "x"],
      ]) {
        expect(spawnSync("redis-cli", ["-p", port, ...args], { encoding: "utf8" }).status).toBe(0);
      }
      await host.waitFor(() => host.sent.length === 1, 10_000, "the message");
      expect(host.sent[0]!.options).toEqual({ deliverAs: "followUp" });
      expect(host.sent[0]!.text).toContain("job.done from cron · id cli-1");
      expect(host.sent[0]!.text).toContain('"ok": true');
      expect(await redis.llen(keys.events)).toBe(0);
    } finally {
      await host.shutdown();
    }
  });

  it("delivers a burst of 5,000 events from 4 concurrent producers with none lost or duplicated", async () => {
    const { host, prefix } = await startSession();
    const producers = Array.from({ length: 4 }, () => new Redis(redisUrl));
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      const pushed = await Promise.all(
        producers.map(async (producer, p) => {
          const ids: string[] = [];
          for (let i = 0; i < 1250; i++) {
            const event = createEvent({ id: `p${p}-${i}`, type: "burst", source: `producer-${p}` });
            await pushToSession(producer, { prefix, sessionId: "main", event });
            ids.push(event.id);
          }
          return ids;
        }),
      );
      const expected = pushed.flat();
      await host.waitFor(() => deliveredIds(host).length >= expected.length, 60_000, "all 5,000 events");
      const delivered = deliveredIds(host);
      expect(delivered.length).toBe(expected.length);
      expect(new Set(delivered).size).toBe(expected.length);
      expect([...delivered].sort()).toEqual([...expected].sort());
      for (const [p, ids] of pushed.entries()) {
        const order = delivered.filter((id) => id.startsWith(`p${p}-`));
        expect(order).toEqual(ids);
      }
    } finally {
      for (const producer of producers) producer.disconnect();
      await host.shutdown();
    }
  });

  it("loses nothing when Redis restarts in the middle of a burst", async () => {
    const server = await startRedisServer({ persistent: true });
    const { host, prefix } = await startSession({ url: server.url });
    const producer = new Redis(server.url, { maxRetriesPerRequest: null });
    producer.on("error", () => {});
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      const ids: string[] = [];
      const pushBatch = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          const event = createEvent({ id: `r-${i}`, type: "burst", source: "restart" });
          await pushToSession(producer, { prefix, sessionId: "main", event });
          ids.push(event.id);
        }
      };
      await pushBatch(0, 1000);
      await server.restart();
      await pushBatch(1000, 2000);
      await host.waitFor(() => new Set(deliveredIds(host)).size >= 2000, 60_000, "all 2,000 events after the restart");
      expect(new Set(deliveredIds(host))).toEqual(new Set(ids));
      expect(host.statusHistory).toContain("gateway: Redis unavailable, retrying");
      expect(listening(host)).toBe(true);
    } finally {
      producer.disconnect();
      await host.shutdown();
      await server.stop();
    }
  });

  it("tells the user when Redis stays away, and when it is back", async () => {
    const server = await startRedisServer();
    const { host } = await startSession({ url: server.url });
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      await server.stop();
      await host.waitFor(() => host.notices.some((n) => n.type === "warning" && /is unavailable/.test(n.message)), 10_000, "the outage notice");
      await server.restart();
      await host.waitFor(() => host.notices.some((n) => /Redis is back/.test(n.message)), 15_000, "the recovery notice");
      expect(listening(host)).toBe(true);
    } finally {
      await host.shutdown();
      await server.stop();
    }
  });

  it("dead-letters a malformed event with a notice and keeps delivering the rest", async () => {
    const { host, keys, prefix } = await startSession();
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      await redis.lpush(keys.events, "this is not json");
      await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id: "fine", type: "t", source: "s" }) });
      await host.waitFor(() => deliveredIds(host).includes("fine"), 10_000, "the good event");
      await host.waitFor(() => host.notices.some((n) => n.message.includes(keys.deadLetter)), 5_000, "the dead-letter notice");
      expect(JSON.parse((await redis.lindex(keys.deadLetter, 0))!)).toMatchObject({ raw: "this is not json", reason: expect.stringMatching(/not valid JSON/) });
    } finally {
      await host.shutdown();
    }
  });

  it("is idempotent on repeated session_start: one pair of clients, one delivery", async () => {
    // a Redis of its own: client names carry no prefix, so the shared server also lists the
    // gateway:main clients of every other test file running in parallel
    const server = await startRedisServer();
    const own = new Redis(server.url);
    const { host, prefix } = await startSession({ url: server.url });
    try {
      await host.startSession("reload");
      await host.startSession("resume");
      await host.waitFor(() => listening(host), 10_000, "listening");
      const clients = (await own.client("LIST")) as string;
      expect(clients.match(/name=gateway:main:(commands|subscriber)/g)?.length).toBe(2);
      await pushToSession(own, { prefix, sessionId: "main", event: createEvent({ id: "once", type: "t", source: "s" }) });
      await host.waitFor(() => host.sent.length > 0, 10_000, "delivery");
      const markers = await deliverMarkers({ host, prefix }, "main", "later", own);
      expect(deliveredIds(host)).toEqual(["once", ...markers]);
    } finally {
      await host.shutdown();
    }
    try {
      const after = (await own.client("LIST")) as string;
      expect(after).not.toMatch(/name=gateway:main:/);
    } finally {
      own.disconnect();
      await server.stop();
    }
  });

  it("holds events while pi is busy and delivers them in one message after agent_end", async () => {
    const { host, prefix, keys } = await startSession();
    // a busy session hands nothing over, so it gives no sign of having seen an event. The sign is
    // taken from a twin: an idle session in this same process, sent each event right after this
    // one. Once the twin has handed an event over, this session has had the same chance to.
    const twin = await startSession();
    const push = async (id: string) => {
      for (const target of [prefix, twin.prefix])
        await pushToSession(redis, { prefix: target, sessionId: "main", event: createEvent({ id, type: "t", source: "s" }) });
    };
    try {
      // pi is busy from the start, so no drain can be under way when the events arrive
      host.autoTurn = false;
      await host.emit("agent_start", {});
      await host.waitFor(() => listening(host), 10_000, "listening");
      await twin.host.waitFor(() => listening(twin.host), 10_000, "the twin listening");
      for (const id of ["b1", "b2", "b3"]) await push(id);
      await twin.host.waitFor(() => deliveredIds(twin.host).includes("b3"), 5_000, "the twin to hand over b1-b3");
      expect(host.sent).toEqual([]);
      await host.emit("agent_end", { messages: [] });
      await host.waitFor(() => host.sent.length === 1, 5_000, "one batched message");
      expect(deliveredIds(host)).toEqual(["b1", "b2", "b3"]);
      // no second message before pi has run the turn the first one started
      await push("b4");
      await twin.host.waitFor(() => deliveredIds(twin.host).includes("b4"), 5_000, "the twin to hand over b4");
      expect(host.sent.length).toBe(1);
      await host.runTurn(host.sent[0]!.text); // pi runs the turn for that very message
      await host.waitFor(() => host.sent.length === 2, 5_000, "the next message");
      expect(await redis.llen(keys.events)).toBe(0);
    } finally {
      await host.shutdown();
      await twin.host.shutdown();
    }
  });

  it("while pi runs a batch's turn, claims the next batch only when it is full, and hands it over when the turn ends", async () => {
    const { host, prefix, keys } = await startSession({ maxBatch: 2 });
    const push = (id: string) => pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id, type: "t", source: "s" }) });
    const idsIn = (entries: string[]) => entries.map((raw) => (JSON.parse(raw) as { id: string }).id);
    // pi starts the turn for the message it was sent, and keeps it running
    const startTurnFor = async (text: string) => {
      await host.emit("agent_start", {});
      const user = { role: "user", content: [{ type: "text", text }], timestamp: Date.now() };
      await host.emit("message_start", { type: "message_start", message: user });
      await host.emit("context", { type: "context", messages: [user] });
    };
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      host.autoTurn = false;
      await host.emit("agent_start", {});
      for (const id of ["q1", "q2", "q3", "q4", "q5"]) await push(id);
      await host.emit("agent_end", { messages: [] });
      await host.waitFor(() => host.sent.length === 1, 5_000, "the first batch");
      expect(deliveredIds(host)).toEqual(["q1", "q2"]);
      await startTurnFor(host.sent[0]!.text);
      // acknowledged with the next full batch claimed in the same script; q5 alone is left to grow
      await waitFor(async () => idsIn(await redis.lrange(keys.processing, 0, -1)).includes("q3"), "q3-q4 claimed", 5_000);
      expect(idsIn(await redis.lrange(keys.processing, 0, -1))).toEqual(["q4", "q3"]);
      expect(idsIn(await redis.lrange(keys.events, 0, -1))).toEqual(["q5"]);
      expect(host.sent.length).toBe(1);
      await host.emit("agent_end", { messages: [] });
      await host.waitFor(() => host.sent.length === 2, 5_000, "the claimed batch");
      expect(deliveredIds(host)).toEqual(["q1", "q2", "q3", "q4"]);
      await startTurnFor(host.sent[1]!.text);
      // the acknowledgement of q3-q4 and the claim it did not make are one script
      await waitFor(async () => (await redis.llen(keys.processing)) === 0, "q3-q4 acknowledged", 5_000);
      expect(idsIn(await redis.lrange(keys.events, 0, -1))).toEqual(["q5"]);
      await push("q6");
      await host.emit("agent_end", { messages: [] });
      await host.waitFor(() => host.sent.length === 3, 5_000, "q5 with q6");
      expect(deliveredIds(host)).toEqual(["q1", "q2", "q3", "q4", "q5", "q6"]);
    } finally {
      await host.shutdown();
    }
  });

  it("never deletes the queue on shutdown and unregisters itself", async () => {
    const { host, prefix, keys } = await startSession();
    await host.waitFor(() => listening(host), 10_000, "listening");
    expect(await redis.sismember(`${prefix}:gateway:sessions`, "main")).toBe(1);
    host.autoTurn = false;
    await host.emit("agent_start", {});
    await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id: "kept", type: "t", source: "s" }) });
    await host.shutdown();
    // still queued (or, if a drain had just claimed it, waiting unacknowledged for the next start)
    expect((await redis.llen(keys.events)) + (await redis.llen(keys.processing))).toBe(1);
    expect(host.sent).toEqual([]);
    expect(await redis.sismember(`${prefix}:gateway:sessions`, "main")).toBe(0);
    expect(await redis.exists(`${prefix}:gateway:alive:main`)).toBe(0);
  });

  it("shows its state with /gateway-status", async () => {
    const { host } = await startSession();
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      await host.runCommand("gateway-status");
      expect(host.notices.at(-1)?.message).toMatch(/session main · listening[\s\S]*pending 0 · in flight 0 · dead letters 0/);
    } finally {
      await host.shutdown();
    }
  });

  it("warns instead of failing when the extension's bundle is missing", async () => {
    const { host } = await startSession({ withBundle: false });
    await host.waitFor(() => host.notices.length > 0, 10_000, "a notice");
    expect(host.notices[0]).toMatchObject({
      type: "warning",
      message: expect.stringMatching(/cannot load \.\/gateway-extension\.mjs .*gateway-setup doctor --fix/),
    });
    expect(host.statuses.get("gateway")).toBe("gateway: its code is missing or damaged");
    await host.shutdown();
  });

  it("reads the Redis password from its 0600 secrets file", async () => {
    const server = await startRedisServer({ password: "pa'ss word" });
    const secretsFile = join(mkdtempSync(join(tmpdir(), "gw-secrets-")), "secrets.env");
    writeFileSync(secretsFile, renderSecrets({ redisPassword: "pa'ss word" }), { mode: 0o600 });
    const { host } = await startSession({ url: `redis://127.0.0.1:${server.port}`, secretsFile });
    try {
      await host.waitFor(() => listening(host), 10_000, "listening with the password");
    } finally {
      await host.shutdown();
      await server.stop();
    }
  });

  it("dead-letters an event whose ts no date can hold and keeps delivering, without spinning", async () => {
    const { host, prefix, keys } = await startSession();
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      await redis.lpush(keys.events, JSON.stringify({ id: "poison", type: "t", source: "s", payload: {}, ts: 1e16 }));
      await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id: "after-poison", type: "t", source: "s" }) });
      await host.waitFor(() => deliveredIds(host).includes("after-poison"), 10_000, "the good event");
      await host.waitFor(() => host.notices.some((n) => /malformed/.test(n.message)), 5_000, "the dead-letter notice");
      expect(JSON.parse((await redis.lindex(keys.deadLetter, 0))!)).toMatchObject({ reason: expect.stringMatching(/"ts"/) });
      // The good event is acknowledged once its turn has started, a moment after delivery; the poison must not linger.
      await waitFor(async () => (await redis.llen(keys.processing)) === 0, "processing to empty", 5_000);
    } finally {
      await host.shutdown();
    }
  });

  it("does not spin against Redis when a turn starts while a batch is being claimed", async () => {
    const server = await startRedisServer();
    const probe = new Redis(server.url);
    const { host, keys } = await startSession({ url: server.url, config: { pollIntervalMs: 100 } });
    // the drain's scripts run by EVALSHA (EVAL when Redis does not know them yet): count both
    const evalCalls = async () => {
      const stats = (await probe.info("commandstats")) as string;
      return ["eval", "evalsha"].reduce((sum, command) => sum + Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
    };
    /** the gateway's command connection as CLIENT LIST shows it (flags=b: a command of it waits in Redis) */
    const commandsClient = async () => ((await probe.client("LIST")) as string).split("\n").find((line) => line.includes(" name=gateway:main:commands ")) ?? "";
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      host.autoTurn = false;
      await host.emit("agent_start", {}); // busy: nothing drains while the event is queued and writes are paused
      await probe.lpush(keys.events, JSON.stringify(createEvent({ id: "raced", type: "t", source: "s" })));
      await probe.client("PAUSE", 10_000, "WRITE");
      await host.emit("agent_end", { messages: [] }); // the drain after the turn: its claim waits in Redis
      await waitFor(async () => (await commandsClient()).includes("flags=b"), "the drain's claim to wait behind the pause");
      await host.emit("agent_start", {}); // the user's next turn starts while the claim is under way
      await probe.client("UNPAUSE"); // the claim returns into a busy pi
      await waitFor(async () => (await probe.llen(keys.processing)) === 1, "the claim to run");
      // how often it asks Redis over a second (at a 100 ms poll): the rate is what is under test
      const before = await evalCalls();
      await new Promise((r) => setTimeout(r, 1000));
      expect((await evalCalls()) - before).toBeLessThan(5);
      expect(host.sent).toEqual([]);
      expect(await probe.llen(keys.processing)).toBe(1);
      host.autoTurn = true;
      await host.emit("agent_end", { messages: [] });
      await host.waitFor(() => deliveredIds(host).includes("raced"), 5_000, "the raced event after agent_end");
    } finally {
      await host.shutdown();
      probe.disconnect();
      await server.stop();
    }
  });

  it("acknowledges a batch only when pi starts its turn; one pi does not take stays queued and is retried", async () => {
    const { host, prefix, keys } = await startSession({ config: { acceptTimeoutMs: 300 } });
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      host.autoTurn = false; // like a pi with no API key: sendUserMessage returns, no turn starts
      await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id: "not-taken", type: "t", source: "s" }) });
      await host.waitFor(() => host.sent.length === 1, 5_000, "the hand-off");
      await host.waitFor(() => host.notices.some((n) => /did not start a turn/.test(n.message)), 5_000, "the notice");
      expect(host.notices.find((n) => /did not start a turn/.test(n.message))?.message).toMatch(/stay queued in Redis/);
      expect(await redis.llen(keys.processing)).toBe(1);
      expect(await redis.exists(`${keys.seenPrefix}not-taken`)).toBe(0);
      // pi works again (the user fixed the key and ran a turn): the batch goes out once more and is acknowledged
      host.autoTurn = true;
      await host.runTurn();
      await host.waitFor(() => host.sent.length === 2, 5_000, "the retry");
      await waitFor(async () => (await redis.llen(keys.processing)) === 0, "the retried batch to be acknowledged", 5_000);
      expect(await redis.exists(`${keys.seenPrefix}not-taken`)).toBe(1);
      expect(deliveredIds(host)).toEqual(["not-taken", "not-taken"]);
    } finally {
      await host.shutdown();
    }
  });

  it("acknowledges the installer's smoke event without showing it to the model", async () => {
    const { host, prefix } = await startSession();
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      const smoke = createEvent({ type: "gateway.smoke", source: "gateway-setup" });
      await pushToSession(redis, { prefix, sessionId: "main", event: smoke });
      await waitFor(async () => (await redis.exists(smokeAckKey(prefix, smoke.id))) === 1, "the smoke event's acknowledgement", 5_000);
      // acknowledged after its drain's hand-off, so pi would have it by now
      expect(host.sent).toEqual([]);
    } finally {
      await host.shutdown();
    }
  });

  it("a second pi on the same id is refused, and takes over when the first one quits", async () => {
    const prefix = randomPrefix();
    const config = { claimRefreshMs: 200 };
    const first = await startSession({ prefix, config });
    await first.host.waitFor(() => listening(first.host), 10_000, "the first listening");
    const second = await startSession({ prefix, config });
    try {
      await second.host.waitFor(() => second.host.notices.some((n) => /already receives the events/.test(n.message)), 10_000, "the refusal");
      expect(second.host.statuses.get("gateway")).toMatch(/belongs to pid \d+/);
      expect(Number(((await redis.pubsub("NUMSUB", first.keys.notify)) as [string, number])[1])).toBe(1);
      await first.host.shutdown();
      await second.host.waitFor(() => listening(second.host), 10_000, "the takeover");
      expect(second.host.notices.some((n) => /free again/.test(n.message))).toBe(true);
      await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id: "to-second", type: "t", source: "s" }) });
      await second.host.waitFor(() => deliveredIds(second.host).includes("to-second"), 5_000, "delivery to the second");
    } finally {
      await second.host.shutdown();
    }
  });

  it("tells routing it is the default session; the installer's self-test never does", async () => {
    const { host, prefix } = await startSession();
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      expect(await redis.get(defaultSessionKey(prefix))).toBe("main");
    } finally {
      await host.shutdown();
    }
    const quiet = await startSession({ config: { announceDefault: false } });
    try {
      await quiet.host.waitFor(() => listening(quiet.host), 10_000, "listening");
      expect(await redis.exists(defaultSessionKey(quiet.prefix))).toBe(0);
    } finally {
      await quiet.host.shutdown();
    }
  });

  it("says at once that Redis refused the password, and where to put the right one", async () => {
    const server = await startRedisServer({ password: "right" });
    const secretsFile = join(mkdtempSync(join(tmpdir(), "gw-secrets-")), "secrets.env");
    writeFileSync(secretsFile, renderSecrets({ redisPassword: "wrong" }), { mode: 0o600 });
    const { host } = await startSession({ url: `redis://127.0.0.1:${server.port}`, secretsFile });
    try {
      await host.waitFor(() => host.notices.some((n) => n.type === "error"), 10_000, "the password notice");
      expect(host.notices.find((n) => n.type === "error")?.message).toContain(`refused the password`);
      expect(host.notices.find((n) => n.type === "error")?.message).toContain(secretsFile);
      expect(host.statuses.get("gateway")).toBe("gateway: Redis refused the password");
    } finally {
      await host.shutdown();
      await server.stop();
    }
  });

  it("says so when GATEWAY_ROLE holds something it does not know, and runs as if it were unset", async () => {
    const { host } = await startSession({ mode: "multi", env: { GATEWAY_ROLE: "Central" } });
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      expect(host.notices[0]).toMatchObject({
        type: "warning",
        message: expect.stringContaining('GATEWAY_ROLE="Central" is not one of central, satellite, disabled'),
      });
      expect(host.statuses.get("gateway")).toBe(`gateway: listening on pid-${process.pid}`);
    } finally {
      await host.shutdown();
    }
  });

  it("a satellite that quits with events still queued hands them to the session that consumes in its place", async () => {
    // busy until it quits, so nothing is drained
    const { host, prefix } = await startSession({ mode: "multi", env: {}, busy: true });
    await host.waitFor(() => listening(host), 10_000, "listening");
    const satellite = `pid-${process.pid}`;
    await redis.set(defaultSessionKey(prefix), "gateway");
    await pushToSession(redis, {
      prefix,
      sessionId: satellite,
      event: createEvent({ id: "left-behind", type: "job.done", source: "s", originSession: satellite }),
    });
    await host.shutdown();
    expect(await redis.llen(sessionKeys(prefix, satellite).events)).toBe(0);
    expect((await redis.lrange(sessionKeys(prefix, "gateway").events, 0, -1)).map((raw) => JSON.parse(raw).id)).toEqual(["left-behind"]);
    expect(host.sent).toEqual([]);
  });

  it("the central session also takes what producers written for tier 1 push to `main`, once per id", async () => {
    const { host, prefix } = await startSession({ mode: "central", env: { GATEWAY_ROLE: "central" }, config: { pollIntervalMs: 60_000 } });
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      const main = sessionKeys(prefix, "main");
      const port = new URL(redisUrl).port;
      const event = JSON.stringify({ id: "old-script", type: "job.done", source: "cron", payload: {}, ts: Date.now() });
      for (const args of [
        ["LPUSH", main.events, event],
        ["PUBLISH", main.notify, "x"],
      ]) {
        expect(spawnSync("redis-cli", ["-p", port, ...args], { encoding: "utf8" }).status).toBe(0);
      }
      await host.waitFor(() => deliveredIds(host).includes("old-script"), 5_000, "the event pushed to main");
      // the same id through both ways in is still one delivery
      await pushToSession(redis, { prefix, sessionId: "main", event: JSON.parse(event) });
      await pushToSession(redis, { prefix, sessionId: "gateway", event: JSON.parse(event) });
      const markers = await deliverMarkers({ host, prefix }, "gateway", "later");
      expect(deliveredIds(host)).toEqual(["old-script", ...markers]);
      expect(await redis.llen(main.events)).toBe(0);
      expect(await redis.llen(main.processing)).toBe(0);
    } finally {
      await host.shutdown();
    }
  });

  it("the central session reads `main` only when told of it (or on its poll), not for every event of its own", async () => {
    // a server of its own: its command counts are this session's (only the fold moves with RPOPLPUSH)
    const server = await startRedisServer();
    const own = new Redis(server.url);
    const { host, prefix } = await startSession({ url: server.url, mode: "central", env: { GATEWAY_ROLE: "central" }, config: { pollIntervalMs: 60_000 } });
    const folds = async () => Number(/cmdstat_rpoplpush:calls=(\d+)/.exec((await own.info("commandstats")) as string)?.[1] ?? 0);
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      await deliverMarkers({ host, prefix }, "gateway", "first", own);
      const before = await folds();
      const markers = await deliverMarkers({ host, prefix }, "gateway", "own", own);
      expect(await folds()).toBe(before);
      await pushToSession(own, { prefix, sessionId: "main", event: createEvent({ id: "told", type: "t", source: "s" }) });
      await host.waitFor(() => deliveredIds(host).includes("told"), 5_000, "the event pushed to main");
      expect(deliveredIds(host).slice(-3)).toEqual([...markers, "told"]);
      expect(await folds()).toBeGreaterThan(before);
    } finally {
      await host.shutdown();
      own.disconnect();
      await server.stop();
    }
  });

  const leavesMainToItsLivePi =
    "the central session leaves `main` alone while a live pi holds it (a tier-1 pi still running after the upgrade), and folds it once that pi is gone";
  it(leavesMainToItsLivePi, async () => {
    const prefix = randomPrefix();
    const main = sessionKeys(prefix, "main");
    // a live holder: this very process, under another owner
    const holder = JSON.stringify({ ...newOwner(Date.now()), owner: "tier-1-pi" });
    await redis.set(aliveKey(prefix, "main"), holder, "EX", 60);
    const { host } = await startSession({ prefix, mode: "central", env: { GATEWAY_ROLE: "central" }, config: { pollIntervalMs: 200 } });
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      // the tier-1 pi has a batch in flight and more waiting: both stay its own
      await redis.lpush(main.processing, JSON.stringify({ id: "in-flight", type: "t", source: "s", payload: {}, ts: Date.now() }));
      await redis.lpush(main.events, JSON.stringify({ id: "waiting", type: "t", source: "s", payload: {}, ts: Date.now() }));
      await redis.publish(main.notify, "x");
      const markers = await deliverMarkers({ host, prefix }, "gateway", "own");
      expect(deliveredIds(host)).toEqual(markers);
      expect([await redis.llen(main.processing), await redis.llen(main.events)]).toEqual([1, 1]);
      // the tier-1 pi quits (or its process dies on this machine): the central session takes over what it left
      await redis.set(aliveKey(prefix, "main"), JSON.stringify({ ...JSON.parse(holder), pid: 2 ** 22 + 1 }), "EX", 60);
      await host.waitFor(() => deliveredIds(host).length === 4, 5_000, "the folded events");
      expect(deliveredIds(host)).toEqual([...markers, "in-flight", "waiting"]);
    } finally {
      await host.shutdown();
    }
  });

  it("leaves nothing open after session_shutdown: the process exits by itself", async () => {
    const prefix = randomPrefix();
    const dir = createExtensionDir({ prefix, redisUrl });
    // source maps: the fixture tells ioredis's own timers from the extension's by the file in their stack
    const fixture = [join(REPO_ROOT, "test/fixtures/host-session.mjs"), join(REPO_ROOT, "dist/verify/host.js"), dir, redisUrl, prefix];
    const child = spawn(process.execPath, ["--enable-source-maps", ...fixture], {
      stdio: "pipe",
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exited = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(null);
      }, 15_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect(exited, output).toBe(0);
    expect(output).toContain("shut down; timers still live: 0");
  });
});
