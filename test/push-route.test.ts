// Routing and `gateway-setup push` against the real redis-server.
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { parseEvent } from "../src/protocol/event.ts";
import { aliveKey, sessionKeys, sessionsRegistryKey } from "../src/protocol/keys.ts";
import { routeTargets } from "../src/protocol/route.ts";
import { createSandbox, runCli } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { installTier1 } from "./helpers/install.ts";

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

  it("fans out to a live origin and the central session, exactly once each", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    await register(prefix, "gateway", "pid-42", "pid-43");
    const result = await runCli(["push", "build.done", "--origin", "pid-42", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`pushed build.done \\S+ to ${prefix}:events:pid-42 \\(0 listening\\)\\npushed build.done \\S+ to ${prefix}:events:gateway`));
    for (const [id, count] of [["pid-42", 1], ["gateway", 1], ["pid-43", 0]] as const) {
      expect(await redis.llen(sessionKeys(prefix, id).events)).toBe(count);
    }
  });

  it("takes the origin from GATEWAY_SESSION_ID, as a command run inside a pi session would", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    await register(prefix, "gateway", "pid-77");
    const result = await runCli(["push", "job.done", "--json", "--redis-url", redisUrl, "--prefix", prefix], { env: { ...sandbox.env, GATEWAY_SESSION_ID: "pid-77" } });
    expect(JSON.parse(result.stdout).targets.map((t: { sessionId: string }) => t.sessionId)).toEqual(["pid-77", "gateway"]);
  });

  it.each([
    [["push", "t", "--payload", "{nope"], /--payload is not valid JSON/],
    [["push", "t", "--payload", "[1]"], /--payload must be a JSON object/],
    [["push", "t", "--origin", "../etc"], /invalid session id/],
    [["push", ""], /"type" must be a non-empty string/],
    [["push", "t", "--prefix", "a b"], /invalid key prefix/],
  ])("rejects %j with exit 2 before connecting", async (args, message) => {
    const sandbox = createSandbox();
    const result = await runCli([...args, "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
