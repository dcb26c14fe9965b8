// The last step of every setup: Redis answers, the installed extension delivers an event as pi
// would load it, and a live session (if any) acknowledges a smoke event. The extension's host
// (verify/host.ts, with the consumer it repairs with) loads only where it is used: a re-run that
// changed nothing and finds no live session does without it.

import { queueConsumer } from "../components/consumer.ts";
import { installedExtensionEntry } from "../components/extension/render.ts";
import type { RedisConnection } from "../components/redis/connection.ts";
import { connectRedis, openRedis } from "../components/redis/probe.ts";
import { type Finding, fail, ok, skip, warn } from "../core/finding.ts";
import type { PlanSettings } from "../core/plan.ts";
import type { RedisClient, RedisProbe, RedisTarget } from "../core/redis.ts";
import { createEvent, type GatewayEvent, SMOKE_EVENT_TYPE } from "../runtime/protocol/event.ts";
import { aliveKey, defaultSessionKey, sessionKeys } from "../runtime/protocol/keys.ts";
import { pushToSession } from "../runtime/protocol/push.ts";

export type VerificationCheck = Finding;

/** Every check stops early when `signal` aborts (Ctrl-C); the caller decides what that means. */
export interface CheckOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * The checks' one connection to the installed Redis: the PING's, kept for the checks after it,
 * opened again only if it was not (the caller closes it).
 */
export class VerificationRedis {
  private client: RedisConnection | undefined;
  constructor(readonly target: RedisTarget) {}

  /** PING, timed, on the connection the checks after it reuse */
  async probe(signal?: AbortSignal): Promise<RedisProbe> {
    const { probe, client } = await connectRedis(this.target, 2000, signal);
    this.close();
    this.client = client;
    return probe;
  }

  async connection(): Promise<RedisConnection> {
    // a server with an idle timeout may have closed it while the extension's test ran
    if (!this.client?.isOpen) {
      this.close();
      this.client = await openRedis(this.target);
    }
    return this.client;
  }

  close(): void {
    this.client?.disconnect();
    this.client = undefined;
  }
}

export async function checkRedisPing(redis: VerificationRedis, { signal }: CheckOptions = {}): Promise<VerificationCheck> {
  const probe = await redis.probe(signal);
  return probe.status === "ok"
    ? ok("redis-ping", `Redis ${probe.version ?? ""} answered PING in ${probe.latencyMs} ms`.replace("  ", " "))
    : fail("redis-ping", probe.message, "start Redis (or fix the URL/password), then run gateway-setup again");
}

export async function checkExtensionDelivery(
  settings: PlanSettings,
  redis: VerificationRedis,
  { signal, timeoutMs = 15_000 }: CheckOptions = {},
): Promise<VerificationCheck> {
  const { target } = redis;
  const { verifyInstalledExtension } = await import("../verify/host.ts");
  const result = await verifyInstalledExtension({
    extensionDir: settings.extensionDir,
    entry: installedExtensionEntry(settings),
    redisUrl: target.url,
    ...(target.password ? { redisPassword: target.password } : {}),
    prefix: settings.prefix,
    timeoutMs,
    ...(signal ? { signal } : {}),
  });
  if (result.ok) {
    const pointed = await pointDefaultSessionCheck(redis, settings);
    if (pointed) return pointed;
  }
  return result.ok
    ? ok("extension-delivery", `the installed extension delivered a test event in ${result.ms} ms`)
    : fail(
        "extension-delivery",
        `the installed extension did not deliver a test event: ${result.problem ?? "unknown problem"}`,
        "nothing of this install stays (it was rolled back): once the cause above is fixed, run gateway-setup again",
      );
}

/**
 * A re-run that changed nothing: the extension's files are the ones an install verified (see
 * VerifyRun), so it is not loaded again; only what Redis holds for it is set again.
 */
export async function checkUnchangedExtension(settings: PlanSettings, redis: VerificationRedis): Promise<VerificationCheck> {
  return (
    (await pointDefaultSessionCheck(redis, settings)) ??
    skip("extension-delivery", "the installed extension is unchanged since an install verified it: not loaded again")
  );
}

async function pointDefaultSessionCheck(redis: VerificationRedis, settings: PlanSettings): Promise<VerificationCheck | undefined> {
  try {
    await pointDefaultSession(redis, settings);
    return undefined;
  } catch (error) {
    return fail(
      "extension-delivery",
      `could not point ${defaultSessionKey(settings.prefix)} at "${settings.sessionId}": ${(error as Error).message}`,
      "start Redis (or fix the URL/password), then run gateway-setup again",
    );
  }
}

/**
 * Producers with no live target follow P:gateway:default, which a session sets when it starts.
 * Until this install's session first starts, a value an earlier install left behind (a tier-2
 * "gateway" after going back to tier 1) would strand their events in a queue nobody consumes.
 */
async function pointDefaultSession(redis: VerificationRedis, { prefix, sessionId }: PlanSettings): Promise<void> {
  await (await redis.connection()).set(defaultSessionKey(prefix), sessionId);
}

/**
 * A pi session live on the installed session id gets a gateway.smoke event, which the extension
 * acknowledges without handing it to the model. A session busy in a long turn may not take it in
 * time: that is a warning, and the event is taken back so it does not linger in the queue.
 */
export async function checkLiveSession(
  settings: PlanSettings,
  verification: VerificationRedis,
  { signal, timeoutMs = 30_000 }: CheckOptions = {},
): Promise<VerificationCheck> {
  const { prefix, sessionId } = settings;
  let redis: RedisClient;
  try {
    redis = await verification.connection();
  } catch (error) {
    return fail(
      "live-session",
      `could not reach Redis to look for a live pi session: ${(error as Error).message}`,
      "the install is complete: start Redis (or fix the URL/password), then run: gateway-setup doctor",
    );
  }
  try {
    if (!(await redis.exists(aliveKey(prefix, sessionId)))) {
      return skip("live-session", `no pi session is live on "${sessionId}" right now; ${queueConsumer(settings).howToStart}`);
    }
    const event = createEvent({ type: SMOKE_EVENT_TYPE, source: "gateway-setup", payload: { note: "installer check, no action needed" } });
    await pushToSession(redis, { prefix, sessionId, event });
    const { waitForSmokeAck } = await import("../verify/host.ts");
    const acked = await waitForSmokeAck(redis, prefix, event.id, timeoutMs, signal).catch((error: unknown) => {
      if (signal?.aborted) return false;
      throw error;
    });
    if (acked) return ok("live-session", `the live pi session on "${sessionId}" acknowledged a smoke event`);
    const keys = sessionKeys(prefix, sessionId);
    const tookBack = await takeBack(redis, [keys.events, keys.processing], event);
    if (signal?.aborted) return skip("live-session", "cancelled before the live pi session answered");
    const seconds = Math.round(timeoutMs / 1000);
    if (tookBack) {
      return warn(
        "live-session",
        `a pi session is live on "${sessionId}" but did not acknowledge a smoke event within ${seconds} s: it is probably busy in a long turn (the ` +
          `event was taken back and will not reach it)`,
        "nothing to do while pi is busy; if that session started before this install, run /reload in it (or restart pi); then: gateway-setup doctor",
      );
    }
    return warn(
      "live-session",
      `the pi session on "${sessionId}" took a smoke event but did not acknowledge it within ${seconds} s: it probably runs an older gateway extension`,
      "in that pi session run /reload (or restart pi) so it loads the new extension, then: gateway-setup doctor",
    );
  } catch (error) {
    return fail("live-session", `looking for a live pi session on "${sessionId}" failed: ${(error as Error).message}`, "gateway-setup doctor");
  }
}

/** Removes the event from the session's lists (waiting, or held while pi is busy); true when it was there. */
async function takeBack(redis: RedisClient, lists: string[], event: GatewayEvent): Promise<boolean> {
  let removed = 0;
  for (const list of lists) {
    const entries = await redis.lrange(list, 0, -1);
    for (const entry of entries.filter((raw) => raw.includes(event.id))) removed += await redis.lrem(list, 1, entry);
  }
  return removed > 0;
}
