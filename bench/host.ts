// The installed extension in the bench: laid out as setup writes it (the ready-built bundle behind
// index.ts), loaded the way pi loads it, on a VerificationHost standing in for pi.
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { loadInstalledExtension, VerificationHost } from "../src/verify/host.ts";
import { createExtensionDir, randomPrefix } from "../test/helpers/extension-dir.ts";

export const SESSION = "main";
const WARM_UP_EVENTS = 2000;

export interface BenchHost {
  host: VerificationHost;
  prefix: string;
  /** starts the session (claim, subscribe, first drain) and waits until it listens */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A freshly loaded extension on its own prefix, not started yet. */
export async function loadHost(redisUrl: string): Promise<BenchHost> {
  const prefix = randomPrefix();
  const extensionDir = createExtensionDir({ prefix, redisUrl });
  const mod = await loadInstalledExtension(extensionDir);
  const host = new VerificationHost();
  await host.load(mod.createGatewayExtension({ ...mod.gatewayConfig }));
  let started = false;
  return {
    host,
    prefix,
    async start() {
      started = true;
      await host.startSession();
      await host.waitFor(() => host.statuses.get("gateway")?.startsWith("gateway: listening") === true, 30_000, "the session to listen");
    },
    async close() {
      if (started) await host.shutdown();
      // createExtensionDir's temp root holds extensions/gateway
      rmSync(dirname(dirname(extensionDir)), { recursive: true, force: true });
    },
  };
}

export async function startHost(redisUrl: string): Promise<BenchHost> {
  const bench = await loadHost(redisUrl);
  await bench.start();
  return bench;
}

export const idsIn = (text: string) => [...text.matchAll(/ · id (\S+) · /g)].map((match) => match[1]!);

/** how many events a hand-off message says it carries: its first line */
const eventsIn = (text: string) => Number(/^\[gateway\] (\d+) events? /.exec(text)?.[1] ?? 0);

/**
 * Reads the ids of every message the host has been handed since `from`. While a wait runs it only
 * counts the events each message announces, and reads the ids once that count is reached: reading
 * them on every hand-off would take CPU from the gateway in the same process.
 */
export class DeliveredIds {
  readonly ids: string[] = [];
  readonly unique = new Set<string>();
  private read: number;
  private counted: number;
  private announced = 0;

  constructor(
    private readonly host: VerificationHost,
    from = host.sent.length,
  ) {
    this.read = from;
    this.counted = from;
  }

  /** events the messages since `from` announce, read cheaply */
  private countUp(): number {
    for (; this.counted < this.host.sent.length; this.counted++) this.announced += eventsIn(this.host.sent[this.counted]!.text);
    return this.announced;
  }

  catchUp(): void {
    for (; this.read < this.host.sent.length; this.read++) {
      for (const id of idsIn(this.host.sent[this.read]!.text)) {
        this.ids.push(id);
        this.unique.add(id);
      }
    }
  }

  /** Waits until `count` distinct ids arrived; false when the deadline passed first (the missing ones count as lost). */
  async waitForUnique(count: number, timeoutMs: number, what: string): Promise<boolean> {
    const arrived = () => {
      if (this.countUp() < count) return false;
      this.catchUp();
      return this.unique.size >= count;
    };
    return this.host.waitFor(arrived, timeoutMs, what).then(
      () => true,
      (error: Error) => {
        console.error(`note: ${error.message}`);
        return false;
      },
    );
  }

  /**
   * Pushes one more event and waits for it: the queue is drained in order and an unacknowledged
   * batch is claimed again before new events, so anything delivered twice shows up before it.
   */
  async settle(redisUrl: string, prefix: string): Promise<void> {
    const redis = new Redis(redisUrl);
    const event = createEvent({ type: "bench", source: "bench-sentinel" });
    try {
      await pushToSession(redis, { prefix, sessionId: SESSION, event });
    } finally {
      redis.disconnect();
    }
    await this.host.waitFor(
      () => {
        this.catchUp();
        return this.unique.has(event.id);
      },
      60_000,
      "the sentinel after the measured events",
    );
    this.unique.delete(event.id);
    this.ids.splice(this.ids.indexOf(event.id), 1);
  }
}

/** pi loads the extension once and then runs warm: so does a measured session before it is timed. */
export async function warmUp(bench: BenchHost, redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl);
  const keys = sessionKeys(bench.prefix, SESSION);
  const pipeline = redis.pipeline();
  for (let i = 0; i < WARM_UP_EVENTS; i++) {
    const event = createEvent({ id: `warm-${i}`, type: "bench", source: "warm-up" });
    pipeline.lpush(keys.events, JSON.stringify(event)).publish(keys.notify, event.id);
  }
  await pipeline.exec();
  redis.disconnect();
  if (!(await new DeliveredIds(bench.host, 0).waitForUnique(WARM_UP_EVENTS, 60_000, "the warm-up events"))) throw new Error("the warm-up did not arrive");
}
