// The delivery promise against the real pi (RPC mode, a fake model on 127.0.0.1, real
// redis-servers, the tier-1 extension installed by the CLI): an event is acknowledged only once pi
// started the turn for its very own message, and no event reaches the model twice from one pi,
// however pi's compactions, the user's prompts and Redis outages fall.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, inject, it } from "vitest";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { type SessionKeys, sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushEvent } from "../src/runtime/protocol/route.ts";
import type { ScriptClient } from "../src/runtime/protocol/scripts.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type FakeModel, isSummaryRequest, newestUserTexts, startFakeModel } from "./helpers/fake-model.ts";
import { installTier1ForPi } from "./helpers/pi-install.ts";
import { createPiSandbox, type PiRpc, type PiSandbox, type RpcLine, startPiRpc } from "./helpers/pi-rpc.ts";
import { type RunningRedis, startRedisServer } from "./helpers/redis-server.ts";
import { waitFor } from "./helpers/wait.ts";

const sharedRedisUrl = inject("redisUrl");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const eventIdsIn = (text: string) => [...text.matchAll(/ · id (\S+) · /g)].map((match) => match[1]!);

/**
 * How often each event id reached the model as news: in the newest user messages of a turn's
 * request. Compaction summaries and the history that later requests repeat do not count.
 */
function deliveriesToModel(model: FakeModel): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of model.requests) {
    if (isSummaryRequest(request)) continue;
    for (const text of newestUserTexts(request)) for (const id of eventIdsIn(text)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

const listening = (line: RpcLine) =>
  line.type === "extension_ui_request" &&
  line.method === "setStatus" &&
  line.statusKey === "gateway" &&
  /gateway: listening on main/.test(String(line.statusText));

interface GatewayPiOptions {
  redisUrl: string;
  prefix: string;
  model: FakeModel;
  prepare?: (sandbox: PiSandbox) => void;
  env?: Record<string, string>;
}

/** Installs the gateway for a pi sandbox; `start()` runs a pi there (again after one died) and resolves once it listens. */
async function installGatewayPi(options: GatewayPiOptions): Promise<{ sandbox: PiSandbox; start(): Promise<PiRpc> }> {
  const sandbox = createPiSandbox();
  cleanups.push(() => sandbox.cleanup());
  const modelName = await installTier1ForPi(sandbox, options);
  options.prepare?.(sandbox);
  const start = async () => {
    const pi = await startPiRpc({ sandbox, model: modelName, ...(options.env ? { env: options.env } : {}) });
    cleanups.push(async () => void (await pi.stop()));
    await pi.waitForLine(listening, { timeoutMs: 20_000, what: "the gateway listening on main" });
    return pi;
  };
  return { sandbox, start };
}

async function startGatewayPi(options: GatewayPiOptions): Promise<PiRpc> {
  return (await installGatewayPi(options)).start();
}

/** The plain producer contract: LPUSH the event JSON, then PUBLISH. */
async function pushEvents(redis: Redis, keys: SessionKeys, ids: string[]): Promise<void> {
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.lpush(keys.events, JSON.stringify(createEvent({ id, type: "job.done", source: "race" })));
  pipeline.publish(keys.notify, "x");
  await pipeline.exec();
}

/** Pushes one last event and waits until it reached the model: whatever was handed to pi before it has reached the model by then. */
async function deliverSentinel(redis: Redis, keys: SessionKeys, model: FakeModel, id: string): Promise<void> {
  await pushEvents(redis, keys, [id]);
  await waitFor(() => deliveriesToModel(model).has(id), `the sentinel ${id} to reach the model`, 60_000);
}

/**
 * Every id reached the model exactly once (`atLeastOnce`: at least once, the promise across a
 * crash); nothing is left in Redis; an id is marked seen exactly when it reached the model.
 */
async function expectEachDeliveredOnce(redis: Redis, keys: SessionKeys, model: FakeModel, ids: string[], { atLeastOnce = false } = {}): Promise<void> {
  const counts = deliveriesToModel(model);
  expect(
    ids.filter((id) => !counts.has(id)),
    "ids that never reached the model",
  ).toEqual([]);
  if (!atLeastOnce)
    expect(
      [...counts].filter(([, count]) => count > 1),
      "ids that reached the model more than once",
    ).toEqual([]);
  expect(await redis.llen(keys.events)).toBe(0);
  expect(await redis.llen(keys.processing)).toBe(0);
  const marks = await redis.mget(...ids.map((id) => keys.seenPrefix + id));
  expect(
    ids.filter((id, i) => (marks[i] !== null) !== counts.has(id)),
    "seen marks that disagree with what reached the model",
  ).toEqual([]);
}

/** A fake model, a fresh prefix's `main` keys and a client of the suite's Redis, all gone after the test. */
async function raceSetting(): Promise<{ model: FakeModel; prefix: string; keys: SessionKeys; redis: Redis }> {
  const model = await startFakeModel();
  cleanups.push(() => model.close());
  const prefix = randomPrefix();
  const redis = new Redis(sharedRedisUrl);
  cleanups.push(() => redis.disconnect());
  return { model, prefix, keys: sessionKeys(prefix, "main"), redis };
}

describe("delivery races against the real pi", () => {
  it("acknowledges a batch only when pi starts that batch's own message, while pi compacts after every turn and user prompts keep arriving", async () => {
    const model = await startFakeModel({ reply: (request) => (isSummaryRequest(request) ? "## Goal\nkeep going" : "OK") });
    cleanups.push(() => model.close());
    // every turn reports a context past the compaction threshold (the 128k window less the
    // reserve below) but within the window, so pi compacts after each one without retrying; the
    // summaries take long enough for user prompts and hand-offs to meet them
    model.setPromptTokens((request) => (isSummaryRequest(request) ? 10 : 126_000));
    model.setDelay((request) => (isSummaryRequest(request) ? 300 : 20));
    const prefix = randomPrefix();
    const keys = sessionKeys(prefix, "main");
    const redis = new Redis(sharedRedisUrl);
    cleanups.push(() => redis.disconnect());
    const ids = Array.from({ length: 300 }, (_, i) => `race-${String(i).padStart(3, "0")}`);
    await pushEvents(redis, keys, ids);

    const pi = await startGatewayPi({
      redisUrl: sharedRedisUrl,
      prefix,
      model,
      prepare: (sandbox) => writeCompactionSettings(sandbox.agentDir, { reserveTokens: 4096, keepRecentTokens: 1 }),
    });
    let prompts = 0;
    while ((await redis.llen(keys.events)) + (await redis.llen(keys.processing)) > 0 && prompts < 200) {
      pi.send({ type: "prompt", message: `a prompt from the user, number ${++prompts}`, streamingBehavior: "followUp" });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await deliverSentinel(redis, keys, model, "race-sentinel");

    // the race really ran: pi compacted over and over while prompts of the user's met the backlog
    expect(model.requests.filter(isSummaryRequest).length).toBeGreaterThan(3);
    expect(model.requests.filter((request) => newestUserTexts(request).some((text) => text.includes("a prompt from the user"))).length).toBeGreaterThan(3);
    await expectEachDeliveredOnce(redis, keys, model, [...ids, "race-sentinel"]);
  }, 180_000);

  it("hands an event pushed twice to pi once, whichever batch, group of batches or group claimed ahead its copy falls in", async () => {
    const { model, prefix, keys, redis } = await raceSetting();
    // a backlog that waits for pi: each id twice, the copy 75 entries after the first (batches of
    // 50, groups of four batches, the next group claimed while the last three are to go)
    const ids = Array.from({ length: 300 }, (_, i) => `twice-${String(i).padStart(3, "0")}`);
    await pushEvents(redis, keys, [...ids.flatMap((id, i) => (i >= 75 ? [id, ids[i - 75]!] : [id])), ...ids.slice(-75)]);
    await startGatewayPi({ redisUrl: sharedRedisUrl, prefix, model });
    await deliverSentinel(redis, keys, model, "twice-sentinel");
    await expectEachDeliveredOnce(redis, keys, model, [...ids, "twice-sentinel"]);
    // pi took the backlog in batches, in order
    const order = [...deliveriesToModel(model).keys()];
    expect(order).toEqual([...ids, "twice-sentinel"]);
    expect(model.requests.length).toBeGreaterThanOrEqual(7);
  }, 120_000);

  it("takes events from producers with many pushEvent calls in flight (sharing script calls) once each, in each producer's order", async () => {
    const { model, prefix, keys, redis } = await raceSetting();
    await startGatewayPi({ redisUrl: sharedRedisUrl, prefix, model });
    const eventsPerCall: number[] = [];
    const producerIds = ["p0", "p1", "p2", "p3"].map((p) => Array.from({ length: 100 }, (_, i) => `${p}-${String(i).padStart(3, "0")}`));
    await Promise.all(
      producerIds.map(async (ids) => {
        const client = new Redis(sharedRedisUrl);
        cleanups.push(() => client.disconnect());
        const counting: ScriptClient = {
          evalsha: (sha1, numkeys, ...args) => (eventsPerCall.push((args.length - 3) / 3), client.evalsha(sha1, numkeys, ...args)),
          eval: (script, numkeys, ...args) => client.eval(script, numkeys, ...args),
        };
        let next = 0;
        const lane = async () => {
          while (next < ids.length) await pushEvent(counting, { prefix, event: createEvent({ id: ids[next++]!, type: "job.done", source: "race" }) });
        };
        await Promise.all(Array.from({ length: 8 }, lane));
      }),
    );
    expect(Math.max(...eventsPerCall), "events in the largest script call").toBeGreaterThan(1);
    await deliverSentinel(redis, keys, model, "routed-sentinel");
    await expectEachDeliveredOnce(redis, keys, model, [...producerIds.flat(), "routed-sentinel"]);
    const order = [...deliveriesToModel(model).keys()];
    for (const ids of producerIds) expect(order.filter((id) => ids.includes(id))).toEqual(ids);
  }, 120_000);

  it("offers a batch again when pi drops it because a user's prompt started first, and acknowledges only the offer pi took", async () => {
    const model = await startFakeModel();
    cleanups.push(() => model.close());
    const prefix = randomPrefix();
    const keys = sessionKeys(prefix, "main");
    const pi = await startGatewayPi({
      redisUrl: sharedRedisUrl,
      prefix,
      model,
      // another extension whose before_agent_start takes a while for the first gateway message:
      // the user's prompt starts its turn meanwhile, and pi drops the gateway's message
      prepare: (sandbox) => writeSlowStartExtension(sandbox.cwd),
    });
    const redis = new Redis(sharedRedisUrl);
    cleanups.push(() => redis.disconnect());
    const ids = Array.from({ length: 5 }, (_, i) => `dropped-${i}`);
    await pushEvents(redis, keys, ids);
    await pi.waitForLine((line) => line.type === "extension_ui_request" && line.method === "notify" && line.message === "slowing a gateway message down", {
      timeoutMs: 20_000,
      what: "the slow extension holding the first hand-off",
    });
    // the user's turn lasts until pi has dropped the hand-off
    const release = model.hold();
    cleanups.push(release);
    pi.send({ type: "prompt", message: "the user's own prompt" });
    await pi.waitForLine((line) => line.type === "extension_error" && /already processing/i.test(JSON.stringify(line)), {
      timeoutMs: 20_000,
      what: "pi dropping the hand-off",
    });
    release();

    await deliverSentinel(redis, keys, model, "dropped-sentinel");
    await expectEachDeliveredOnce(redis, keys, model, [...ids, "dropped-sentinel"]);
    // the offer pi dropped never reached the model, the one it took did
    const handOffs = pi.lines.filter(
      (line) => line.type === "extension_ui_request" && line.method === "notify" && String(line.message).startsWith("slowed hand-off "),
    );
    expect(handOffs).toHaveLength(1);
    const droppedMarker = String(handOffs[0]!.message).slice("slowed hand-off ".length);
    expect(model.requests.some((request) => JSON.stringify(request.messages).includes(droppedMarker))).toBe(false);
  }, 120_000);

  it("hands nothing to pi twice when Redis is away between the hand-off and its acknowledgement for longer than the client retries", async () => {
    const server = await startRedisServer({ persistent: true });
    cleanups.push(() => server.stop());
    const model = await startFakeModel();
    cleanups.push(() => model.close());
    const prefix = randomPrefix();
    const keys = sessionKeys(prefix, "main");
    const pi = await startGatewayPi({
      redisUrl: server.url,
      prefix,
      model,
      // a second extension pauses Redis' writes the moment pi starts a hand-off's turn, so the
      // acknowledgement waits in Redis until the server is killed under it
      prepare: (sandbox) => writeWritePausingExtension(sandbox.agentDir),
      env: { PAUSE_REDIS_PORT: String(server.port) },
    });
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    redis.on("error", () => {});
    cleanups.push(() => redis.disconnect());
    const ids = Array.from({ length: 20 }, (_, i) => `outage-${i}`);
    await pushEvents(redis, keys, ids);

    await model.waitForRequest("outage-19", 30_000);
    // pi took the batch, and its acknowledgement waits behind the pause (reads still answer)
    expect(await redis.llen(keys.processing)).toBe(ids.length);
    await killAndRestart(server, pi);
    await deliverSentinel(redis, keys, model, "outage-sentinel");
    await expectEachDeliveredOnce(redis, keys, model, [...ids, "outage-sentinel"]);
  }, 120_000);
});

describe("a pi killed outright loses nothing: the next pi on the queue delivers what was not acknowledged", () => {
  const cases = [
    { moment: "while the batch waits to start (before pi took it)", killedBeforeTaken: true },
    { moment: "when the batch's request reaches the model", killedBeforeTaken: false },
    { moment: "mid-answer", killedBeforeTaken: false },
  ];
  for (const { moment, killedBeforeTaken } of cases) {
    it(moment, async () => {
      const model = await startFakeModel();
      cleanups.push(() => model.close());
      const prefix = randomPrefix();
      const keys = sessionKeys(prefix, "main");
      const { sandbox, start } = await installGatewayPi({
        redisUrl: sharedRedisUrl,
        prefix,
        model,
        ...(killedBeforeTaken ? { prepare: (sandbox: PiSandbox) => writeSelfKillingExtension(sandbox.agentDir) } : {}),
      });
      const redis = new Redis(sharedRedisUrl);
      cleanups.push(() => redis.disconnect());
      const first = await start();
      const release = moment === "mid-answer" ? model.hold() : () => {};
      cleanups.push(release);
      const ids = Array.from({ length: 10 }, (_, i) => `killed-${i}`);
      await pushEvents(redis, keys, ids);
      if (!killedBeforeTaken) {
        await model.waitForRequest("killed-9", 20_000);
        process.kill(first.pid, "SIGKILL");
      }
      expect((await first.exited).signal).toBe("SIGKILL");
      release();
      if (killedBeforeTaken) {
        expect(model.requests).toEqual([]);
        expect(await redis.llen(keys.processing)).toBe(ids.length);
      }
      expect(existsSync(join(sandbox.agentDir, "kill-at-hand-off"))).toBe(false);

      await start();
      await deliverSentinel(redis, keys, model, `killed-sentinel`);
      await expectEachDeliveredOnce(redis, keys, model, [...ids, "killed-sentinel"], { atLeastOnce: !killedBeforeTaken });
    }, 120_000);
  }
});

/** Redis killed outright (the paused acknowledgement dies with it), back after 1.5 s from its append-only file. */
async function killAndRestart(server: RunningRedis, pi: PiRpc): Promise<void> {
  const from = pi.mark();
  await server.restart({ signal: "SIGKILL", downMs: 1_500 });
  await pi.waitForLine(listening, { from, timeoutMs: 20_000, what: "the gateway listening again after the restart" });
}

function writeCompactionSettings(agentDir: string, compaction: { reserveTokens: number; keepRecentTokens: number }): void {
  const file = join(agentDir, "settings.json");
  const settings = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  writeFileSync(file, `${JSON.stringify({ ...settings, compaction: { enabled: true, ...compaction } }, null, 2)}\n`);
}

/** An extension that kills its pi outright when the first gateway message is about to start (the flag file makes it once). */
function writeSelfKillingExtension(agentDir: string): void {
  const flag = join(agentDir, "kill-at-hand-off");
  writeFileSync(flag, "");
  const dir = join(agentDir, "extensions", "kill-at-hand-off");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "index.ts"),
    `import { existsSync, rmSync } from "node:fs";
export default function killAtHandOff(pi: any) {
  pi.on("before_agent_start", (event: { prompt: string }) => {
    if (!event.prompt.startsWith("[gateway] ") || !existsSync(${JSON.stringify(flag)})) return;
    rmSync(${JSON.stringify(flag)});
    process.kill(process.pid, "SIGKILL");
  });
}
`,
  );
}

/**
 * A project-local extension (pi loads those before the global gateway) that holds the first
 * gateway message in before_agent_start until another prompt's turn has started.
 */
function writeSlowStartExtension(cwd: string): void {
  const dir = join(cwd, ".pi", "extensions", "slow-start");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "index.ts"),
    `export default function slowStart(pi: any) {
  let slowed = false;
  pi.on("before_agent_start", async (event: { prompt: string }, ctx: any) => {
    if (slowed || !event.prompt.startsWith("[gateway] ")) return;
    slowed = true;
    ctx.ui.notify("slowed hand-off " + (/\\[gateway hand-off (\\S+)\\]/.exec(event.prompt)?.[1] ?? "?"), "info");
    ctx.ui.notify("slowing a gateway message down", "info");
    // until another prompt's turn runs (at most 20 s)
    for (let waited = 0; !ctx.signal && waited < 20000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  });
}
`,
  );
}

function writeWritePausingExtension(agentDir: string): void {
  const dir = join(agentDir, "extensions", "pause-redis-writes");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "index.ts"),
    `import { spawnSync } from "node:child_process";
export default function pauseRedisWrites(pi: any) {
  let paused = false;
  pi.on("before_agent_start", (event: { prompt: string }) => {
    if (paused || !event.prompt.startsWith("[gateway] ")) return;
    paused = true;
    const result = spawnSync("redis-cli", ["-p", process.env.PAUSE_REDIS_PORT ?? "", "CLIENT", "PAUSE", "60000", "WRITE"], { encoding: "utf8" });
    if (result.stdout.trim() !== "OK") throw new Error("CLIENT PAUSE failed: " + result.stdout + result.stderr);
  });
}
`,
  );
}
