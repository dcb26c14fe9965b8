// One push is one round trip: the origin's liveness (its key, and for a satellite whether its
// process still runs here) is decided inside the routing script. Counted with Redis MONITOR on the
// suite's redis-server, only the commands of the pushing connection, between two ECHO markers.
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createEvent } from "../src/runtime/protocol/event.ts";
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

/** Pushes once and returns what was routed and the commands the pushing connection sent for it. */
async function pushCounted(options: PushEventOptions): Promise<{ routed: RoutedPush; commands: string[] }> {
  const [start, end] = [`start-${++markers}`, `end-${markers}`];
  await pusher.echo(start);
  const routed = await pushEvent(pusher, options);
  await pusher.echo(end);
  const ours = () => seen.filter((entry) => entry.source === pusherAddress).map((entry) => entry.args);
  await waitFor(() => ours().some((args) => args[1] === end), `MONITOR to show ${end}`);
  const all = ours();
  const from = all.findIndex((args) => args[1] === start);
  const to = all.findIndex((args) => args[1] === end);
  return { routed, commands: all.slice(from + 1, to).map((args) => args[0]!.toLowerCase()) };
}

async function register(prefix: string, id: string, record: object): Promise<void> {
  await pusher.sadd(sessionsRegistryKey(prefix), id);
  await pusher.set(aliveKey(prefix, id), JSON.stringify(record), "EX", 60);
}

const ownerHere = (pid: number) => ({ owner: `${hostname()}:${pid}:test`, pid, host: hostname(), startedAt: 1 });
const sessionsOf = (routed: RoutedPush) => routed.targets.map((t) => t.sessionId);
const job = (originSession?: string) => createEvent({ type: "job.done", source: "ci", ...(originSession ? { originSession } : {}) });

describe("pushEvent sends one command", () => {
  it("for an event with a live satellite as origin: one EVALSHA pushes to the origin and central", async () => {
    const prefix = randomPrefix();
    await register(prefix, "gateway", ownerHere(process.pid));
    const satellite = `pid-${process.pid}`;
    await register(prefix, satellite, ownerHere(process.pid));
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
