// One push is one round trip: the origin's liveness (its key, and for a satellite whether its
// process still runs here) is decided inside the routing script; pushes that overlap one still
// waiting for Redis share a script call. Counted with Redis MONITOR on the suite's redis-server,
// only the commands of the pushing connection, between two ECHO markers.
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createEvent, HEARTBEAT_EVENT_TYPE } from "../src/runtime/protocol/event.ts";
import { aliveKey, sessionKeys, sessionsRegistryKey } from "../src/runtime/protocol/keys.ts";
import { type PushEventOptions, pushEvent, type RoutedPush } from "../src/runtime/protocol/route.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const pusher = new Redis(redisUrl);
const watcher = new Redis(redisUrl);
let monitor: Redis;
let pusherAddress: string;
const seen: { source: string; args: string[] }[] = [];

beforeAll(async () => {
  const info = (await pusher.client("INFO")) as string;
  pusherAddress = /addr=(\S+)/.exec(info)![1]!;
  monitor = await watcher.monitor();
  monitor.on("monitor", (_time: string, args: string[], source: string) => void seen.push({ source, args }));
  // the routing script is in Redis's script cache from here on (a first EVALSHA meets NOSCRIPT and sends EVAL)
  await pushEvent(pusher, { prefix: randomPrefix(), event: createEvent({ type: "warm.up", source: "test" }) });
});

afterAll(() => {
  monitor?.disconnect();
  watcher.disconnect();
  pusher.disconnect();
});

let markers = 0;

/** What `run` returns, and the commands the pushing connection sent while it ran. */
async function counted<T>(run: () => Promise<T>): Promise<{ result: T; commands: string[]; sent: string[][] }> {
  const [start, end] = [`start-${++markers}`, `end-${markers}`];
  await pusher.echo(start);
  const result = await run();
  await pusher.echo(end);
  const ours = () => seen.filter((entry) => entry.source === pusherAddress).map((entry) => entry.args);
  await waitFor(() => ours().some((args) => args[1] === end), `MONITOR to show ${end}`);
  const all = ours();
  const from = all.findIndex((args) => args[1] === start);
  const to = all.findIndex((args) => args[1] === end);
  const sent = all.slice(from + 1, to);
  return { result, commands: sent.map((args) => args[0]!.toLowerCase()), sent };
}

/** Pushes once and returns what was routed and the commands the pushing connection sent for it. */
async function pushCounted(options: PushEventOptions): Promise<{ routed: RoutedPush; commands: string[] }> {
  const { result, commands } = await counted(() => pushEvent(pusher, options));
  return { routed: result, commands };
}

async function register(prefix: string, id: string, record: object): Promise<void> {
  await pusher.sadd(sessionsRegistryKey(prefix), id);
  await pusher.set(aliveKey(prefix, id), JSON.stringify(record), "EX", 60);
}

const ownerHere = (pid: number) => ({ owner: `${hostname()}:${pid}:test`, pid, host: hostname(), startedAt: 1 });
/** the central session and a live satellite (this process), both registered; returns the satellite's id */
async function registerCentralAndSatellite(prefix: string): Promise<string> {
  await register(prefix, "gateway", ownerHere(process.pid));
  const satellite = `pid-${process.pid}`;
  await register(prefix, satellite, ownerHere(process.pid));
  return satellite;
}
const sessionsOf = (routed: RoutedPush) => routed.targets.map((t) => t.sessionId);
const job = (originSession?: string) => createEvent({ type: "job.done", source: "ci", ...(originSession ? { originSession } : {}) });

describe("pushEvent sends one command", () => {
  it("for an event with a live satellite as origin: one EVALSHA pushes to the origin and central", async () => {
    const prefix = randomPrefix();
    const satellite = await registerCentralAndSatellite(prefix);
    const { routed, commands } = await pushCounted({ prefix, event: job(satellite) });
    expect(sessionsOf(routed)).toEqual([satellite, "gateway"]);
    expect(commands).toEqual(["evalsha"]);
    expect(await pusher.llen(sessionKeys(prefix, satellite).events)).toBe(1);
  });

  it("for an event whose satellite origin was killed (its liveness key not expired yet): one EVALSHA, central only", async () => {
    const prefix = randomPrefix();
    await register(prefix, "gateway", ownerHere(process.pid));
    const pid = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
    await register(prefix, `pid-${pid}`, ownerHere(pid));
    const { routed, commands } = await pushCounted({ prefix, event: job(`pid-${pid}`) });
    expect(sessionsOf(routed)).toEqual(["gateway"]);
    expect(commands).toEqual(["evalsha"]);
    expect(await pusher.llen(sessionKeys(prefix, `pid-${pid}`).events)).toBe(0);
  });

  it("for an event whose origin is not registered, and for one without an origin", async () => {
    const prefix = randomPrefix();
    const unknown = await pushCounted({ prefix, event: job("pid-1") });
    expect(sessionsOf(unknown.routed)).toEqual(["main"]);
    expect(unknown.commands).toEqual(["evalsha"]);
    const none = await pushCounted({ prefix, event: job() });
    expect(sessionsOf(none.routed)).toEqual(["main"]);
    expect(none.commands).toEqual(["evalsha"]);
  });
});

describe("the notification", () => {
  it("is published for an event that finds its queue empty, not for the ones that queue behind it; each push still counts the listeners", async () => {
    const prefix = randomPrefix();
    const keys = sessionKeys(prefix, "main");
    const listener = new Redis(redisUrl);
    const heard: string[] = [];
    try {
      await listener.subscribe(keys.notify);
      listener.on("message", (_channel: string, id: string) => void heard.push(id));
      const events = ["first", "second", "third"].map((id) => createEvent({ id, type: "job.done", source: "test" }));
      const pushed = [];
      for (const event of events) pushed.push(await pushEvent(pusher, { prefix, event }));
      expect(pushed.map((push) => push.targets.map((target) => target.listeners))).toEqual([[1], [1], [1]]);
      // the consumer drained the queue: the next event is announced again
      await pusher.del(keys.events);
      await pushEvent(pusher, { prefix, event: createEvent({ id: "after-drain", type: "job.done", source: "test" }) });
      await waitFor(() => heard.includes("after-drain"), "the notification of the event after the drain");
      expect(heard).toEqual(["first", "after-drain"]);
    } finally {
      listener.disconnect();
    }
  });
});

/** How many events each routing script call carried (its ARGV: 3 shared, then 3 per event). */
const eventsPerCall = (sent: string[][]) => sent.filter((args) => /^eval/i.test(args[0]!)).map((args) => (args.length - 6) / 3);
const queued = async (prefix: string, session: string) =>
  (await pusher.lrange(sessionKeys(prefix, session).events, 0, -1)).map((raw) => JSON.parse(raw).id).reverse();
const idsOf = (count: number, from = 0) => Array.from({ length: count }, (_, i) => `e${from + i}`);
const event = (id: string, more: Partial<Parameters<typeof createEvent>[0]> = {}) => createEvent({ id, type: "job.done", source: "test", ...more });

describe("pushes that overlap share a script call", () => {
  it("pushes called while one waits go together at the end of the tick, each routed on its own, in call order", async () => {
    const prefix = randomPrefix();
    const satellite = await registerCentralAndSatellite(prefix);
    const { result, sent } = await counted(() =>
      Promise.all([
        pushEvent(pusher, { prefix, event: event("e0") }),
        pushEvent(pusher, { prefix, event: event("e1", { originSession: satellite }) }),
        pushEvent(pusher, { prefix, event: event("e2", { type: HEARTBEAT_EVENT_TYPE, originSession: satellite }) }),
        pushEvent(pusher, { prefix, event: event("e3", { originSession: "pid-1" }) }),
        pushEvent(pusher, { prefix, event: event("e4", { originSession: satellite }) }),
      ]),
    );
    expect(eventsPerCall(sent)).toEqual([1, 4]);
    expect(result.map((routed) => [routed.event.id, sessionsOf(routed)])).toEqual([
      ["e0", ["gateway"]],
      ["e1", [satellite, "gateway"]],
      ["e2", ["gateway"]],
      ["e3", ["gateway"]],
      ["e4", [satellite, "gateway"]],
    ]);
    expect(await queued(prefix, "gateway")).toEqual(idsOf(5));
    expect(await queued(prefix, satellite)).toEqual(["e1", "e4"]);
  });

  it("a push on an idle client is sent at once, before a command called after it; pushes awaited one by one are one call each", async () => {
    const prefix = randomPrefix();
    const alone = await counted(() => Promise.all([pushEvent(pusher, { prefix, event: event("e0") }), pusher.echo("after")]));
    expect(alone.commands).toEqual(["evalsha", "echo"]);
    const oneByOne = await counted(async () => {
      for (const id of idsOf(3, 1)) await pushEvent(pusher, { prefix, event: event(id) });
    });
    expect(eventsPerCall(oneByOne.sent)).toEqual([1, 1, 1]);
    expect(await queued(prefix, "main")).toEqual(idsOf(4));
  });

  it("a script call carries at most 64 events and about 512 KB of them", async () => {
    const prefix = randomPrefix();
    const many = await counted(() => Promise.all(idsOf(150).map((id) => pushEvent(pusher, { prefix, event: event(id) }))));
    expect(eventsPerCall(many.sent)).toEqual([1, 64, 64, 21]);
    expect(await queued(prefix, "main")).toEqual(idsOf(150));
    const large = { text: "x".repeat(200 * 1024) };
    const big = await counted(() => Promise.all(idsOf(6, 150).map((id) => pushEvent(pusher, { prefix, event: event(id, { payload: large }) }))));
    expect(eventsPerCall(big.sent)).toEqual([1, 3, 2]);
    expect(await queued(prefix, "main")).toEqual(idsOf(156));
  });

  it("pushes with other routing options in the same tick go in calls of their own, and each queue keeps its order", async () => {
    const [a, b] = [randomPrefix(), randomPrefix()];
    const { result, sent } = await counted(() =>
      Promise.all([
        pushEvent(pusher, { prefix: a, event: event("a0") }),
        pushEvent(pusher, { prefix: a, event: event("a1") }),
        pushEvent(pusher, { prefix: b, event: event("b0") }),
        pushEvent(pusher, { prefix: b, event: event("b1"), fallbackSession: "fallback" }),
        pushEvent(pusher, { prefix: a, event: event("a2") }),
        pushEvent(pusher, { prefix: a, event: event("a3") }),
      ]),
    );
    expect(eventsPerCall(sent)).toEqual([1, 1, 1, 1, 2]);
    expect(result.map(sessionsOf)).toEqual([["main"], ["main"], ["main"], ["fallback"], ["main"], ["main"]]);
    expect(await queued(a, "main")).toEqual(["a0", "a1", "a2", "a3"]);
    expect(await queued(b, "main")).toEqual(["b0"]);
    expect(await queued(b, "fallback")).toEqual(["b1"]);
  });

  it("an event that fails in Redis fails alone: the others of its call are pushed", async () => {
    const prefix = randomPrefix();
    const satellite = `pid-${process.pid}`;
    await register(prefix, satellite, ownerHere(process.pid));
    await pusher.set(sessionKeys(prefix, satellite).events, "not a list");
    const { result, sent } = await counted(() =>
      Promise.allSettled([
        pushEvent(pusher, { prefix, event: event("e0") }),
        pushEvent(pusher, { prefix, event: event("e1") }),
        pushEvent(pusher, { prefix, event: event("e2", { originSession: satellite }) }),
        pushEvent(pusher, { prefix, event: event("e3") }),
      ]),
    );
    expect(eventsPerCall(sent)).toEqual([1, 3]);
    expect(result.map((settled) => settled.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect(String((result[2] as PromiseRejectedResult).reason)).toMatch(/pushing event e2 failed: .*WRONGTYPE/);
    expect(await queued(prefix, "main")).toEqual(["e0", "e1", "e3"]);
  });

  it("a call that fails as a whole rejects each of its pushes and pushes nothing", async () => {
    const prefix = randomPrefix();
    await pusher.rpush(`${prefix}:gateway:default`, "not a string");
    const settled = await Promise.allSettled(idsOf(3).map((id) => pushEvent(pusher, { prefix, event: event(id) })));
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected", "rejected"]);
    for (const s of settled) expect(String((s as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(await pusher.exists(sessionKeys(prefix, "main").events)).toBe(0);
  });
});
