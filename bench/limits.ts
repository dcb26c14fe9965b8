// The physical limits the product's throughput is reported against, measured against the bench's
// own redis-server in the same run: redis-benchmark's LPUSH with 8 clients (what Redis takes from
// 8 producers on this machine), and the smallest consumer that drains a queue safely with ioredis
// (one MULTI per batch: acknowledge the last batch, move 50 events, read them back).
import { spawnSync } from "node:child_process";
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import type { SessionKeys } from "../src/runtime/protocol/keys.ts";

const BENCHMARK_REQUESTS = 50_000;
export const MINIMAL_BATCH = 50;

/** `redis-benchmark -c 8 -t lpush`: LPUSH requests per second. */
export function redisBenchmarkLpush(port: number): number {
  const args = ["-h", "127.0.0.1", "-p", String(port), "-c", "8", "-t", "lpush", "-n", String(BENCHMARK_REQUESTS), "--csv"];
  const result = spawnSync("redis-benchmark", args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`redis-benchmark failed (exit ${result.status}): ${result.stderr}`);
  const line = result.stdout.split("\n").find((l) => l.startsWith('"LPUSH"'));
  const rps = Number(line?.split(",")[1]?.replaceAll('"', ""));
  if (!Number.isFinite(rps)) throw new Error(`no LPUSH rate in redis-benchmark's output: ${result.stdout}`);
  // its list is not needed again
  spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "DEL", "mylist"]);
  return rps;
}

/** Puts `count` events on a queue as producers would have (LPUSH, newest at the head); returns their ids. */
export async function pushPending(redisUrl: string, keys: SessionKeys, count: number, tag: string): Promise<string[]> {
  const redis = new Redis(redisUrl);
  const ids: string[] = [];
  try {
    for (let start = 0; start < count; start += 5_000) {
      const pipeline = redis.pipeline();
      for (let i = start; i < Math.min(count, start + 5_000); i++) {
        const event = createEvent({ id: `${tag}-${i}`, type: "bench", source: "backlog" });
        ids.push(event.id);
        pipeline.lpush(keys.events, JSON.stringify(event));
      }
      await pipeline.exec();
    }
  } finally {
    redis.disconnect();
  }
  return ids;
}

export interface Drained {
  seconds: number;
  ids: string[];
}

/** Drains `keys.events` to the end with the minimal consumer; the ids it read, in order. */
export async function minimalConsumer(redisUrl: string, keys: SessionKeys): Promise<Drained> {
  const redis = new Redis(redisUrl);
  await redis.ping();
  const ids: string[] = [];
  const started = performance.now();
  try {
    for (;;) {
      const multi = redis.multi().del(keys.processing);
      for (let i = 0; i < MINIMAL_BATCH; i++) multi.lmove(keys.events, keys.processing, "RIGHT", "LEFT");
      const replies = await multi.lrange(keys.processing, 0, -1).exec();
      const batch = replies!.at(-1)![1] as string[];
      if (!batch.length) break;
      for (let i = batch.length - 1; i >= 0; i--) ids.push((JSON.parse(batch[i]!) as { id: string }).id);
    }
    return { seconds: (performance.now() - started) / 1000, ids };
  } finally {
    redis.disconnect();
  }
}

/** Lost (pushed, never delivered) and duplicated (delivered more than once) between two lists of ids. */
export function lostAndDuplicated(pushed: readonly string[], delivered: readonly string[]): { lost: number; duplicated: number } {
  const unique = new Set(delivered);
  const wanted = new Set(pushed);
  let lost = 0;
  for (const id of wanted) if (!unique.has(id)) lost++;
  return { lost, duplicated: delivered.length - unique.size };
}
