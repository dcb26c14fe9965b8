// What naming an origin costs a producer: pushEvent with a live origin session (routed to it and
// to the primary) against pushEvent without one, one awaited push at a time on one connection,
// the two alternating in blocks so both see the same machine.
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushEvent } from "../src/runtime/protocol/route.ts";
import { claimSession, newOwner } from "../src/runtime/protocol/sessions.ts";
import { randomPrefix } from "../test/helpers/extension-dir.ts";
import { SESSION } from "./host.ts";
import { atMost, median, pairedRatio, type Row } from "./rows.ts";

const BLOCKS = 60;
const PUSHES_PER_BLOCK = 50;

/** ms per push over one block of awaited pushes */
async function block(redis: Redis, prefix: string, originSession: string | undefined, expectTargets: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < PUSHES_PER_BLOCK; i++) {
    const event = createEvent({ type: "bench", source: "bench-origin", ...(originSession ? { originSession } : {}) });
    const { targets } = await pushEvent(redis, { prefix, event });
    if (targets.length !== expectTargets) throw new Error(`pushEvent routed to ${targets.length} session(s), the bench expected ${expectTargets}`);
  }
  return (performance.now() - started) / PUSHES_PER_BLOCK;
}

export async function originRows(redisUrl: string): Promise<Row[]> {
  const redis = new Redis(redisUrl);
  const prefix = randomPrefix();
  const origin = `pid-${process.pid}`;
  try {
    const claimed = await claimSession(redis, prefix, origin, 600, newOwner(Date.now()));
    if (!claimed.ok) throw new Error(`could not register ${origin} as a live session`);
    // warm both paths before timing them
    await block(redis, prefix, undefined, 1);
    await block(redis, prefix, origin, 2);
    const without: number[] = [];
    const withOrigin: number[] = [];
    for (let i = 0; i < BLOCKS; i++) {
      if (i % 2 === 0) without.push(await block(redis, prefix, undefined, 1));
      withOrigin.push(await block(redis, prefix, origin, 2));
      if (i % 2 === 1) without.push(await block(redis, prefix, undefined, 1));
      await redis.del(sessionKeys(prefix, SESSION).events, sessionKeys(prefix, origin).events);
    }
    return [
      { name: `pushEvent without an origin, awaited one at a time (${BLOCKS} x ${PUSHES_PER_BLOCK})`, value: median(without), unit: "ms" },
      atMost({ name: "pushEvent with a live origin session", value: median(withOrigin), unit: "ms", ratio: pairedRatio(withOrigin, without) }, 1.3, "without"),
    ];
  } finally {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
}
