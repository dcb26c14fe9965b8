// The gateway extension as pi runs it: loaded from an installed-layout dir with jiti by the
// verification host, against real redis-servers.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { renderSecrets } from "../src/components/redis/secrets.ts";
import { createEvent } from "../src/protocol/event.ts";
import { sessionKeys } from "../src/protocol/keys.ts";
import { pushToSession } from "../src/protocol/push.ts";
import { loadInstalledExtension, VerificationHost } from "../src/verify/host.ts";
import { REPO_ROOT } from "./helpers/cli.ts";
import { createExtensionDir, randomPrefix } from "./helpers/extension-dir.ts";
import { startRedisServer } from "./helpers/redis-server.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

interface Session {
  host: VerificationHost;
  prefix: string;
  keys: ReturnType<typeof sessionKeys>;
}

async function startSession(options: { url?: string; secretsFile?: string; withNodeModules?: boolean; maxBatch?: number } = {}): Promise<Session> {
  const prefix = randomPrefix();
  const url = options.url ?? redisUrl;
  const dir = createExtensionDir({ prefix, redisUrl: url, ...(options.secretsFile ? { secretsFile: options.secretsFile } : {}), ...(options.withNodeModules === false ? { withNodeModules: false } : {}) });
  const mod = await loadInstalledExtension(dir);
  const host = new VerificationHost();
  await host.load(mod.createGatewayExtension({ ...mod.gatewayConfig, pollIntervalMs: 1000, ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}) }));
  await host.startSession();
  return { host, prefix, keys: sessionKeys(prefix, "main") };
}

const listening = (host: VerificationHost) => host.statuses.get("gateway")?.startsWith("gateway: listening") === true;
const deliveredIds = (host: VerificationHost) => host.sent.flatMap((m) => [...m.text.matchAll(/ · id (\S+) · /g)].map((match) => match[1]!));

describe("gateway extension", () => {
  it("delivers an event pushed with plain redis-cli LPUSH + PUBLISH as one followUp user message", async () => {
    const { host, keys } = await startSession();
    try {
      await host.waitFor(() => listening(host), 10_000, "listening");
      const port = new URL(redisUrl).port;
      const event = JSON.stringify({ id: "cli-1", type: "job.done", source: "cron", payload: { ok: true }, ts: Date.now() });
      for (const args of [["LPUSH", keys.events, event], ["PUBLISH", keys.notify, "x"]]) {
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
    const { host, prefix } = await startSession();
    try {
      await host.startSession("reload");
      await host.startSession("resume");
      await host.waitFor(() => listening(host), 10_000, "listening");
      const clients = (await redis.client("LIST")) as string;
      expect(clients.match(/name=gateway:main:(commands|subscriber)/g)?.length).toBe(2);
      await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id: "once", type: "t", source: "s" }) });
      await host.waitFor(() => host.sent.length > 0, 10_000, "delivery");
      await new Promise((r) => setTimeout(r, 300));
      expect(deliveredIds(host)).toEqual(["once"]);
    } finally {
      await host.shutdown();
    }
    const after = (await redis.client("LIST")) as string;
    expect(after).not.toMatch(/name=gateway:main:/);
  });

  it("holds events while pi is busy and delivers them in one message after agent_end", async () => {
    const { host, prefix, keys } = await startSession();
    try {
      // pi is busy from the start, so no drain can be under way when the events arrive
      host.autoTurn = false;
      await host.emit("agent_start", {});
      await host.waitFor(() => listening(host), 10_000, "listening");
      for (const id of ["b1", "b2", "b3"]) await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id, type: "t", source: "s" }) });
      await new Promise((r) => setTimeout(r, 300));
      expect(host.sent).toEqual([]);
      await host.emit("agent_end", { messages: [] });
      await host.waitFor(() => host.sent.length === 1, 5_000, "one batched message");
      expect(deliveredIds(host)).toEqual(["b1", "b2", "b3"]);
      // no second message before pi has run the turn the first one started
      await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id: "b4", type: "t", source: "s" }) });
      await new Promise((r) => setTimeout(r, 300));
      expect(host.sent.length).toBe(1);
      await host.runTurn();
      await host.waitFor(() => host.sent.length === 2, 5_000, "the next message");
      expect(await redis.llen(keys.events)).toBe(0);
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

  it("warns instead of failing when ioredis is missing", async () => {
    const { host } = await startSession({ withNodeModules: false });
    await host.waitFor(() => host.notices.length > 0, 10_000, "a notice");
    expect(host.notices[0]).toMatchObject({ type: "warning", message: expect.stringMatching(/cannot load ioredis.*gateway-setup doctor --fix/) });
    expect(host.statuses.get("gateway")).toBe("gateway: ioredis missing");
    await host.shutdown();
  });

  it("reads the Redis password from its 0600 secrets file", async () => {
    const server = await startRedisServer({ password: "pa'ss word" });
    const secretsFile = join(mkdtempSync(join(tmpdir(), "gw-secrets-")), "secrets.env");
    writeFileSync(secretsFile, renderSecrets("pa'ss word"), { mode: 0o600 });
    const { host } = await startSession({ url: `redis://127.0.0.1:${server.port}`, secretsFile });
    try {
      await host.waitFor(() => listening(host), 10_000, "listening with the password");
    } finally {
      await host.shutdown();
      await server.stop();
    }
  });

  it("leaves nothing open after session_shutdown: the process exits by itself", async () => {
    const prefix = randomPrefix();
    const dir = createExtensionDir({ prefix, redisUrl });
    const child = spawn(process.execPath, [join(REPO_ROOT, "test/fixtures/host-session.mjs"), join(REPO_ROOT, "dist/verify/host.js"), dir, redisUrl, prefix], { stdio: "pipe" });
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
    expect(output).toContain("shut down");
  });
});
