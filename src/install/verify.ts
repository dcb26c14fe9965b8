// The last step of every setup: Redis answers, the installed extension delivers an event as pi
// would load it, and a live session (if any) acknowledges a smoke event.
import { probeRedis, openRedis } from "../components/redis/probe.ts";
import type { RedisTarget } from "../components/redis/url.ts";
import { createEvent } from "../protocol/event.ts";
import { aliveKey } from "../protocol/keys.ts";
import { pushToSession } from "../protocol/push.ts";
import type { PlanSettings } from "../plan/plan.ts";
import type { Finding } from "../doctor/finding.ts";
import { verifyInstalledExtension, waitForSmokeAck } from "../verify/host.ts";

export type VerificationCheck = Finding;

export async function checkRedisPing(target: RedisTarget): Promise<VerificationCheck> {
  const probe = await probeRedis(target);
  return probe.status === "ok"
    ? { id: "redis-ping", status: "ok", message: `Redis ${probe.version ?? ""} answered PING in ${probe.latencyMs} ms`.replace("  ", " ") }
    : { id: "redis-ping", status: "fail", message: probe.message, fix: "start Redis (or fix the URL/password), then run: gateway-setup doctor" };
}

export async function checkExtensionDelivery(settings: PlanSettings, target: RedisTarget): Promise<VerificationCheck> {
  const result = await verifyInstalledExtension({
    extensionDir: settings.extensionDir,
    redisUrl: target.url,
    ...(target.password ? { redisPassword: target.password } : {}),
    prefix: settings.prefix,
    timeoutMs: 15_000,
  });
  return result.ok
    ? { id: "extension-delivery", status: "ok", message: `the installed extension delivered test event ${result.eventId} in ${result.ms} ms` }
    : {
        id: "extension-delivery",
        status: "fail",
        message: `the installed extension did not deliver a test event: ${result.problem ?? "unknown problem"}`,
        fix: `run: cd ${settings.extensionDir} && npm install, then: gateway-setup doctor`,
      };
}

export async function checkLiveSession(settings: PlanSettings, target: RedisTarget, timeoutMs = 30_000): Promise<VerificationCheck> {
  const redis = await openRedis(target);
  try {
    if (!(await redis.exists(aliveKey(settings.prefix, settings.sessionId)))) {
      return { id: "live-session", status: "skip", message: `no pi session is live on "${settings.sessionId}" right now; start pi to receive events` };
    }
    const event = createEvent({ type: "gateway.smoke", source: "gateway-setup", payload: { note: "installer check, no action needed" } });
    await pushToSession(redis, { prefix: settings.prefix, sessionId: settings.sessionId, event });
    const acked = await waitForSmokeAck(redis, settings.prefix, event.id, timeoutMs);
    return acked
      ? { id: "live-session", status: "ok", message: `the live pi session on "${settings.sessionId}" acknowledged smoke event ${event.id}` }
      : {
          id: "live-session",
          status: "fail",
          message: `a pi session is registered on "${settings.sessionId}" but did not acknowledge a smoke event within ${Math.round(timeoutMs / 1000)} s`,
          fix: "in that pi session run /reload (or restart pi) so it loads the new extension, then: gateway-setup doctor",
        };
  } finally {
    redis.disconnect();
  }
}
