// Verification step 3: a live pi session that is busy (or gone quiet) is a warning, never a
// leftover event; Redis trouble is a failed check with a fix.
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { parseRedisUrl } from "../src/components/redis/url.ts";
import type { PlanSettings } from "../src/core/plan.ts";
import { checkLiveSession } from "../src/install/verify.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { freePort } from "./helpers/redis-server.ts";

const redisUrl = inject("redisUrl");
const settingsFor = (prefix: string) => ({ prefix, sessionId: "main" }) as PlanSettings;

describe("checkLiveSession", () => {
  it("warns when a live session does not take the smoke event in time, and takes the event back", async () => {
    const prefix = randomPrefix();
    const redis = new Redis(redisUrl);
    try {
      await redis.set(`${prefix}:gateway:alive:main`, "busy in a long turn", "EX", 60);
      await redis.lpush(`${prefix}:events:main`, '{"id":"someone-else","type":"job.done","source":"cron","payload":{},"ts":1}');
      const check = await checkLiveSession(settingsFor(prefix), parseRedisUrl(redisUrl), { timeoutMs: 500 });
      expect(check).toMatchObject({
        id: "live-session",
        status: "warn",
        message: expect.stringMatching(/busy in a long turn/),
        fix: expect.stringMatching(/\/reload/),
      });
      expect(await redis.lrange(`${prefix}:events:main`, 0, -1)).toEqual(['{"id":"someone-else","type":"job.done","source":"cron","payload":{},"ts":1}']);
    } finally {
      await redis.del(`${prefix}:gateway:alive:main`, `${prefix}:events:main`);
      redis.disconnect();
    }
  });

  it("takes the event back from the session's processing list too (pi busy holds it there)", async () => {
    const prefix = randomPrefix();
    const redis = new Redis(redisUrl);
    const holder = new Redis(redisUrl);
    try {
      await redis.set(`${prefix}:gateway:alive:main`, "busy", "EX", 60);
      // a session that claims the event but never acknowledges it
      const claim = holder.blmove(`${prefix}:events:main`, `${prefix}:processing:main`, "RIGHT", "LEFT", 5);
      const check = await checkLiveSession(settingsFor(prefix), parseRedisUrl(redisUrl), { timeoutMs: 800 });
      await claim;
      expect(check.status).toBe("warn");
      expect(await redis.llen(`${prefix}:processing:main`)).toBe(0);
    } finally {
      await redis.del(`${prefix}:gateway:alive:main`, `${prefix}:events:main`, `${prefix}:processing:main`);
      redis.disconnect();
      holder.disconnect();
    }
  });

  it("is a failed check with a fix, not an unexpected error, when Redis cannot be reached", async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const check = await checkLiveSession(settingsFor(randomPrefix()), parseRedisUrl(url), { timeoutMs: 500 });
    expect(check).toMatchObject({
      id: "live-session",
      status: "fail",
      message: expect.stringMatching(/could not reach Redis/),
      fix: expect.stringMatching(/gateway-setup doctor/),
    });
  });

  it("stops waiting when cancelled and leaves nothing in the queue", async () => {
    const prefix = randomPrefix();
    const redis = new Redis(redisUrl);
    try {
      await redis.set(`${prefix}:gateway:alive:main`, "busy", "EX", 60);
      const cancel = new AbortController();
      setTimeout(() => cancel.abort(), 200);
      const check = await checkLiveSession(settingsFor(prefix), parseRedisUrl(redisUrl), { timeoutMs: 30_000, signal: cancel.signal });
      expect(check.status).toBe("skip");
      expect(await redis.llen(`${prefix}:events:main`)).toBe(0);
    } finally {
      await redis.del(`${prefix}:gateway:alive:main`);
      redis.disconnect();
    }
  });
});
