// Verification step 3: a live pi session that is busy (or gone quiet) is a warning, never a
// leftover event; Redis trouble is a failed check with a fix.
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { parseRedisUrl } from "../src/components/redis/url.ts";
import type { PlanSettings } from "../src/core/plan.ts";
import { type CheckOptions, checkLiveSession, VerificationRedis } from "../src/install/verify.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { freePort, startRedisServer } from "./helpers/redis-server.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const settingsFor = (prefix: string) => ({ prefix, sessionId: "main" }) as PlanSettings;

/** the check on a connection of its own, closed after, as setup closes its verification's */
async function liveSessionCheck(settings: PlanSettings, url: string, options: CheckOptions) {
  const verification = new VerificationRedis(parseRedisUrl(url));
  try {
    return await checkLiveSession(settings, verification, options);
  } finally {
    verification.close();
  }
}

describe("checkLiveSession", () => {
  it("warns when a live session does not take the smoke event in time, and takes the event back", async () => {
    const prefix = randomPrefix();
    const redis = new Redis(redisUrl);
    try {
      await redis.set(`${prefix}:gateway:alive:main`, "busy in a long turn", "EX", 60);
      await redis.lpush(`${prefix}:events:main`, '{"id":"someone-else","type":"job.done","source":"cron","payload":{},"ts":1}');
      const check = await liveSessionCheck(settingsFor(prefix), redisUrl, { timeoutMs: 500 });
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
      const check = await liveSessionCheck(settingsFor(prefix), redisUrl, { timeoutMs: 800 });
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
    const check = await liveSessionCheck(settingsFor(randomPrefix()), url, { timeoutMs: 500 });
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
      const check = await liveSessionCheck(settingsFor(prefix), redisUrl, { timeoutMs: 30_000, signal: cancel.signal });
      expect(check.status).toBe("skip");
      expect(await redis.llen(`${prefix}:events:main`)).toBe(0);
    } finally {
      await redis.del(`${prefix}:gateway:alive:main`);
      redis.disconnect();
    }
  });

  it("setup's checks share the PING's connection, and open another once the server closed it (an idle timeout)", async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    const verification = new VerificationRedis(parseRedisUrl(server.url));
    try {
      expect((await verification.probe()).status).toBe("ok");
      const first = await verification.connection();
      expect(await verification.connection()).toBe(first);
      expect(Number(await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))).toBe(1);
      await waitFor(() => !first.isOpen, "the killed connection to close");
      const second = await verification.connection();
      expect(second).not.toBe(first);
      expect(await second.set("verification:reopened", "yes")).toBe("OK");
    } finally {
      verification.close();
      admin.disconnect();
      await server.stop();
    }
  });
});
