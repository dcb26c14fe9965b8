// Routing and `gateway-setup push` against the real redis-server.
import { spawn, spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { drainOnce } from "../src/runtime/protocol/drain.ts";
import { createEvent, type GatewayEvent, MAX_EVENT_BYTES, parseEvent } from "../src/runtime/protocol/event.ts";
import { aliveKey, defaultSessionKey, sessionKeys, sessionsRegistryKey } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { handOverSatelliteQueue } from "../src/runtime/protocol/registry-scripts.ts";
import { liveSessions, pushEvent, routeTargets } from "../src/runtime/protocol/route.ts";
import { deadSessions, pruneDeadSessions, pruneDeadSessionsDetailed } from "../src/runtime/protocol/sessions.ts";
import { CLI, createSandbox, runCli } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { installTier1 } from "./helpers/install.ts";
import { freePort, startRedisServer } from "./helpers/redis-server.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

describe("routeTargets", () => {
  const live = new Set(["gateway", "pid-1", "pid-2"]);
  it.each([
    ["a heartbeat goes to central only", { type: "cron.heartbeat", originSession: "pid-1" }, live, ["gateway"]],
    ["an event with a live origin goes to the origin and central", { type: "job.done", originSession: "pid-1" }, live, ["pid-1", "gateway"]],
    ["a dead origin is skipped", { type: "job.done", originSession: "pid-9" }, live, ["gateway"]],
    ["no origin: central", { type: "job.done" }, live, ["gateway"]],
    ["no sessions registered: main", { type: "job.done" }, new Set<string>(), ["main"]],
    ["central down: the fallback queue", { type: "job.done", originSession: "pid-1" }, new Set(["pid-1"]), ["pid-1", "main"]],
  ])("%s", (_name, event, sessions, targets) => {
    expect(routeTargets(event as { type: string; originSession?: string }, sessions as Set<string>)).toEqual(targets);
  });
});

async function register(prefix: string, ...ids: string[]) {
  for (const id of ids) {
    await redis.sadd(sessionsRegistryKey(prefix), id);
    await redis.set(aliveKey(prefix, id), "{}", "EX", 60);
  }
}

/** A satellite killed without shutting down: registered, its liveness key not yet expired, its process gone. */
async function registerKilledSatellite(prefix: string): Promise<string> {
  const pid = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
  const id = `pid-${pid}`;
  await redis.sadd(sessionsRegistryKey(prefix), id);
  await redis.set(aliveKey(prefix, id), JSON.stringify({ owner: `${hostname()}:${pid}:dead`, pid: Number(pid), host: hostname(), startedAt: 1 }), "EX", 60);
  return id;
}

const sessionsOf = (routed: { targets: { sessionId: string }[] }) => routed.targets.map((t) => t.sessionId);
const job = (fields: Partial<GatewayEvent> = {}) => createEvent({ type: "job.done", source: "ci", ...fields });

describe("pushEvent: where events go when central is not alive", () => {
  it("uses the session named by the default key, not main (a live satellite does not change that)", async () => {
    const prefix = randomPrefix();
    await register(prefix, "pid-5");
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job() }))).toEqual(["main"]);
    await redis.set(defaultSessionKey(prefix), "gateway");
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job({ originSession: "pid-5" }) }))).toEqual(["pid-5", "gateway"]);
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job({ type: "cron.heartbeat" }) }))).toEqual(["gateway"]);
    expect(await redis.llen(sessionKeys(prefix, "gateway").events)).toBe(2);
    expect(await redis.llen(sessionKeys(prefix, "main").events)).toBe(1);
  });

  it("an explicit fallback wins over the default key; the default key wins over the last resort; a live central wins over both", async () => {
    const prefix = randomPrefix();
    await redis.set(defaultSessionKey(prefix), "gateway");
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job(), fallbackSession: "ops" }))).toEqual(["ops"]);
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job(), lastResortSession: "ops" }))).toEqual(["gateway"]);
    await redis.del(defaultSessionKey(prefix));
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job(), lastResortSession: "ops" }))).toEqual(["ops"]);
    await register(prefix, "gateway");
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job(), fallbackSession: "ops" }))).toEqual(["gateway"]);
  });

  it("a default key that is not a session id is ignored", async () => {
    const prefix = randomPrefix();
    await redis.set(defaultSessionKey(prefix), "../x y");
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job() }))).toEqual(["main"]);
  });

  it("push --redis-url without a manifest follows the default key", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    await redis.set(defaultSessionKey(prefix), "gateway");
    const result = await runCli(["push", "job.done", "--json", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).targets.map((t: { sessionId: string }) => t.sessionId)).toEqual(["gateway"]);
    expect(await redis.llen(sessionKeys(prefix, "main").events)).toBe(0);
  });

  it("push reads GATEWAY_REDIS_URL as the extension does (a job pi started reaches the Redis pi listens on); --redis-url wins over it", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    const viaEnv = await runCli(["push", "job.done", "--json", "--prefix", prefix], { env: { ...sandbox.env, GATEWAY_REDIS_URL: redisUrl } });
    expect(viaEnv.code, viaEnv.stdout).toBe(0);
    expect(await redis.llen(sessionKeys(prefix, "main").events)).toBe(1);
    const flagWins = await runCli(["push", "job.done", "--json", "--prefix", prefix, "--redis-url", redisUrl], {
      env: { ...sandbox.env, GATEWAY_REDIS_URL: "redis://127.0.0.1:1" },
    });
    expect(flagWins.code, flagWins.stdout).toBe(0);
    expect(await redis.llen(sessionKeys(prefix, "main").events)).toBe(2);
  });
});

describe("a satellite killed without shutting down", () => {
  it("is not alive for routing while its liveness key lasts: its origin events go to central only", async () => {
    const prefix = randomPrefix();
    await register(prefix, "gateway");
    const dead = await registerKilledSatellite(prefix);
    expect([...(await liveSessions(redis, prefix))]).toEqual(["gateway"]);
    expect(await deadSessions(redis, prefix)).toEqual([dead]);
    expect(sessionsOf(await pushEvent(redis, { prefix, event: job({ originSession: dead }) }))).toEqual(["gateway"]);
    expect(await redis.llen(sessionKeys(prefix, dead).events)).toBe(0);
  });

  it("is pruned with its pending and unacknowledged events moved to central, oldest first, and central delivers each id once", async () => {
    const prefix = randomPrefix();
    await register(prefix, "gateway");
    const satellite = "pid-2147483000";
    await register(prefix, satellite);
    // routed while the satellite was alive: one copy each for the satellite and central
    const routed = await pushEvent(redis, { prefix, event: job({ id: "both", originSession: satellite }) });
    expect(sessionsOf(routed)).toEqual([satellite, "gateway"]);
    const central = sessionKeys(prefix, "gateway");
    const delivered: string[] = [];
    const drain = () =>
      drainOnce(redis, central, { maxBatch: 100, dedupeTtlSeconds: 600, handOff: (events) => void delivered.push(...events.map((e) => e.id)) });
    await drain();
    expect(delivered).toEqual(["both"]);
    // the satellite had claimed "both" (unacknowledged) when it died; "later" was still pending
    const own = sessionKeys(prefix, satellite);
    await redis.rpoplpush(own.events, own.processing);
    await pushToSession(redis, { prefix, sessionId: satellite, event: job({ id: "later" }) });
    await redis.del(aliveKey(prefix, satellite));

    const listener = new Redis(redisUrl);
    const notices: string[] = [];
    await listener.subscribe(central.notify);
    listener.on("message", (_channel, message: string) => notices.push(message));
    try {
      expect(await pruneDeadSessionsDetailed(redis, prefix)).toEqual([{ sessionId: satellite, moved: 2, movedTo: "gateway" }]);
      expect(await pruneDeadSessionsDetailed(redis, prefix)).toEqual([]);
      expect(await redis.sismember(sessionsRegistryKey(prefix), satellite)).toBe(0);
      expect(await redis.exists(own.events, own.processing)).toBe(0);
      const queued = (await redis.lrange(central.events, 0, -1)).map((raw) => JSON.parse(raw).id);
      expect(queued).toEqual(["later", "both"]);
      await drain();
      expect(delivered).toEqual(["both", "later"]);
      await expect.poll(() => notices).toEqual([`moved-from:${satellite}`]);
    } finally {
      listener.disconnect();
    }
  });

  it("a satellite that left events behind at a clean shutdown hands them over once it is unregistered", async () => {
    const prefix = randomPrefix();
    await register(prefix, "gateway", "pid-2147483001");
    await pushToSession(redis, { prefix, sessionId: "pid-2147483001", event: job({ id: "left" }) });
    expect(await handOverSatelliteQueue(redis, prefix, "pid-2147483001")).toEqual({ moved: 0 });
    await redis.srem(sessionsRegistryKey(prefix), "pid-2147483001");
    expect(await handOverSatelliteQueue(redis, prefix, "pid-2147483001")).toEqual({ moved: 1, movedTo: "gateway" });
    expect(await handOverSatelliteQueue(redis, prefix, "pid-2147483001")).toEqual({ moved: 0 });
    expect(parseEvent((await redis.lindex(sessionKeys(prefix, "gateway").events, 0))!)).toMatchObject({ ok: true, event: { id: "left" } });
  });

  it("a pruned session that is not a satellite keeps its queue (its id comes back)", async () => {
    const prefix = randomPrefix();
    await redis.sadd(sessionsRegistryKey(prefix), "main");
    await pushToSession(redis, { prefix, sessionId: "main", event: job() });
    expect(await pruneDeadSessions(redis, prefix)).toEqual(["main"]);
    expect(await redis.llen(sessionKeys(prefix, "main").events)).toBe(1);
  });
});

describe("events larger than a session accepts", () => {
  const big = () => job({ payload: { blob: "x".repeat(MAX_EVENT_BYTES) } });
  it("are refused at push time, by pushEvent and pushToSession alike, and nothing is queued", async () => {
    const prefix = randomPrefix();
    await expect(pushEvent(redis, { prefix, event: big() })).rejects.toThrow(/bytes is more than the 262144 a session accepts/);
    await expect(pushToSession(redis, { prefix, sessionId: "main", event: big() })).rejects.toThrow(/a session accepts/);
    expect(await redis.exists(sessionKeys(prefix, "main").events)).toBe(0);
  });
});

describe("gateway-setup push", () => {
  it("pushes a valid event to the installed session and says where it went", async () => {
    const { env, plan } = await installTier1(redisUrl);
    const result = await runCli(["push", "job.done", "--payload", '{"ok":true}', "--source", "ci", "--json"], { env });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.targets.map((t: { sessionId: string }) => t.sessionId)).toEqual(["main"]);
    const raw = await redis.lindex(sessionKeys(plan.settings.prefix, "main").events, 0);
    expect(parseEvent(raw!)).toMatchObject({ ok: true, event: { type: "job.done", source: "ci", payload: { ok: true }, id: report.event.id } });
  });

  it("to a reader that is gone (`| head -0`), the event still lands: exit 0, nothing on stderr", async () => {
    const { env, plan } = await installTier1(redisUrl);
    const id = `gone-reader-${process.pid}`;
    // the reading end is closed before the push writes its line: that write fails with EPIPE
    const child = spawn(process.execPath, [CLI, "push", "job.done", "--id", id], { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.destroy();
    let stderr = "";
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    expect(await new Promise((resolve) => child.once("close", resolve))).toBe(0);
    expect(stderr).toBe("");
    const raw = await redis.lindex(sessionKeys(plan.settings.prefix, "main").events, 0);
    expect(parseEvent(raw!)).toMatchObject({ ok: true, event: { id, type: "job.done" } });
  });

  it("fans out to a live origin and the central session, exactly once each", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    await register(prefix, "gateway", "pid-42", "pid-43");
    const result = await runCli(["push", "build.done", "--origin", "pid-42", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`pushed build.done \\S+ to ${prefix}:events:pid-42 \\(0 listening\\)\\npushed build.done \\S+ to ${prefix}:events:gateway`),
    );
    for (const [id, count] of [
      ["pid-42", 1],
      ["gateway", 1],
      ["pid-43", 0],
    ] as const) {
      expect(await redis.llen(sessionKeys(prefix, id).events)).toBe(count);
    }
  });

  it("takes the origin from GATEWAY_SESSION_ID, as a command run inside a pi session would", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    await register(prefix, "gateway", "pid-77");
    const result = await runCli(["push", "job.done", "--json", "--redis-url", redisUrl, "--prefix", prefix], {
      env: { ...sandbox.env, GATEWAY_SESSION_ID: "pid-77" },
    });
    expect(JSON.parse(result.stdout).targets.map((t: { sessionId: string }) => t.sessionId)).toEqual(["pid-77", "gateway"]);
  });

  it("says when the origin got nothing: a session that is not live, or a heartbeat (central only)", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    await register(prefix, "gateway");
    const typo = await runCli(["push", "job.done", "--origin", "pid-999999", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
    expect(typo.code, typo.stderr).toBe(0);
    expect(typo.stdout).toMatch(new RegExp(`^pushed job.done \\S+ to ${prefix}:events:gateway \\(0 listening\\)\n$`));
    expect(typo.stderr).toBe('gateway-setup push: the origin "pid-999999" is not a live session here, so it did not get the event\n');
    const heartbeat = await runCli(["push", "cron.heartbeat", "--json", "--redis-url", redisUrl, "--prefix", prefix], {
      env: { ...sandbox.env, GATEWAY_SESSION_ID: "pid-5" },
    });
    expect(JSON.parse(heartbeat.stdout)).toMatchObject({ ok: true, notes: ['heartbeats go to the central session only, not to the origin "pid-5"'] });
  });

  it("an origin from GATEWAY_SESSION_ID is named as such when invalid, and an empty one means none", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    const hostile = await runCli(["push", "t", "--redis-url", redisUrl, "--prefix", prefix], { env: { ...sandbox.env, GATEWAY_SESSION_ID: "../x" } });
    expect(hostile.code).toBe(2);
    expect(hostile.stderr).toMatch(
      /GATEWAY_SESSION_ID in the environment \(taken as the origin\) is not a valid session id: "\.\.\/x"; unset it or pass --origin/,
    );
    const empty = await runCli(["push", "t", "--json", "--redis-url", redisUrl, "--prefix", prefix], { env: { ...sandbox.env, GATEWAY_SESSION_ID: "" } });
    expect(empty.code, empty.stdout).toBe(0);
    expect(JSON.parse(empty.stdout).event.originSession).toBeUndefined();
  });

  it("usage errors with --json are one JSON document on stdout, too", async () => {
    const sandbox = createSandbox();
    const missing = await runCli(["push", "--json"], { env: sandbox.env });
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toEqual({ ok: false, error: { message: "missing required argument 'type'", fix: "gateway-setup push --help" } });
    const unknown = await runCli(["doctor", "--bogus", "--json"], { env: sandbox.env });
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toEqual({ ok: false, error: { message: "unknown option '--bogus'", fix: "gateway-setup doctor --help" } });
  });

  it.each([
    [["push", "t", "--payload", "{nope"], /--payload is not valid JSON/],
    [["push", "t", "--payload", "[1]"], /--payload must be a JSON object/],
    [["push", "t", "--origin", "../etc"], /invalid session id/],
    [["push", ""], /"type" must be a non-empty string/],
    [["push", "t", "--prefix", "a b"], /invalid key prefix/],
  ])("rejects %j with exit 2 before connecting", async (args, message) => {
    const sandbox = createSandbox();
    // nothing listens there: connecting would fail with exit 1
    const result = await runCli([...args, "--redis-url", `redis://127.0.0.1:${await freePort()}`], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it("an invalid Redis URL is a usage error with a clear message, as JSON with --json", async () => {
    const sandbox = createSandbox();
    const plain = await runCli(["push", "t", "--redis-url", "notaurl"], { env: sandbox.env });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toBe('gateway-setup push: invalid Redis URL "notaurl": expected redis://host:port or rediss://host:port\n');
    const json = await runCli(["push", "t", "--redis-url", "notaurl", "--json"], { env: sandbox.env });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, error: { message: expect.stringMatching(/^invalid Redis URL "notaurl"/) } });
    expect(json.stderr).toBe("");
  });

  it("Redis without the password says how to give it", async () => {
    const locked = await startRedisServer({ password: "s3cret" });
    try {
      const sandbox = createSandbox();
      const result = await runCli(["push", "t", "--redis-url", `redis://127.0.0.1:${locked.port}`], { env: sandbox.env });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/NOAUTH\)\. Set GATEWAY_REDIS_PASSWORD/);
      expect(result.stderr).not.toMatch(/answer the password prompt/);
    } finally {
      await locked.stop();
    }
  });
});
