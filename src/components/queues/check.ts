// Doctor checks of the live protocol state in Redis: someone listens, queues drain, nothing rots
// in the dead-letter list, and the session registry has no dead entries.

import type { DoctorCheck } from "../../core/check.ts";
import { fail, ok, warn } from "../../core/finding.ts";
import { TIER1_SESSION_ID } from "../../runtime/extension/config.ts";
import { parseEvent } from "../../runtime/protocol/event.ts";
import { sessionKeys, sessionsRegistryKey } from "../../runtime/protocol/keys.ts";
import { registeredSessions } from "../../runtime/protocol/registry-scripts.ts";
import { isSessionGone, pruneDeadSessions } from "../../runtime/protocol/sessions.ts";
import { redisCliFor } from "../redis/url.ts";
import { consumerStartFix } from "../service/check.ts";

export const QUEUE_DEPTH_WARN = 100;
export const QUEUE_AGE_FAIL_MS = 60 * 60_000;

export const listenerCheck: DoctorCheck = {
  id: "listener",
  needsRedis: true,
  async run({ redis, manifest, sessionIds }) {
    const channels = sessionIds.map((id) => sessionKeys(manifest.settings.prefix, id).notify);
    const reply = (await redis!.pubsub("NUMSUB", ...channels)) as (string | number)[];
    const silentIds = sessionIds.filter((_, i) => Number(reply[i * 2 + 1]) === 0);
    if (!silentIds.length) return ok("listener", `a pi session is listening on ${channels.join(", ")}`);
    // the installed session (and main, folded by central) is started by the user or the service; any
    // other id is a registered session whose pi should be listening: one that stopped is pruned
    const started = new Set([manifest.settings.sessionId, TIER1_SESSION_ID]);
    const unstarted = silentIds.filter((id) => started.has(id));
    const stuck = silentIds.filter((id) => !started.has(id));
    const notify = (ids: string[]) => ids.map((id) => sessionKeys(manifest.settings.prefix, id).notify).join(", ");
    if (unstarted.length) {
      const also = stuck.length
        ? `; registered session(s) ${stuck.join(", ")} do not listen either (gateway-setup doctor --fix prunes them once they are gone)`
        : "";
      return warn(
        "listener",
        `no pi session is listening on ${notify(unstarted)}; events wait in the queue until one starts${also}`,
        consumerStartFix(manifest),
      );
    }
    return warn(
      "listener",
      `registered session(s) ${stuck.join(", ")} do not listen on ${notify(stuck)}: their pi has stopped or hangs; events for them wait until it is pruned`,
      "gateway-setup doctor --fix (prunes a session whose pi is gone and hands its events to the central session)",
    );
  },
};

export const queueCheck: DoctorCheck = {
  id: "queue",
  needsRedis: true,
  async run({ redis, manifest, sessionIds }) {
    const now = Date.now();
    const lines: string[] = [];
    let worst: "ok" | "warn" | "fail" = "ok";
    for (const id of sessionIds) {
      const keys = sessionKeys(manifest.settings.prefix, id);
      const [depth, oldestRaw] = await Promise.all([redis!.llen(keys.events), redis!.lindex(keys.events, -1)]);
      const oldest = oldestRaw ? parseEvent(oldestRaw) : undefined;
      const ageMs = oldest?.ok ? now - oldest.event.ts : 0;
      lines.push(`${keys.events}: ${depth} pending${depth ? `, oldest ${Math.round(ageMs / 1000)} s old` : ""}`);
      if (depth && ageMs > QUEUE_AGE_FAIL_MS) worst = "fail";
      else if (depth > QUEUE_DEPTH_WARN && worst === "ok") worst = "warn";
    }
    const message = lines.join("; ");
    if (worst === "ok") return ok("queue", message);
    const fix = consumerStartFix(manifest);
    return worst === "fail" ? fail("queue", `${message} (older than ${QUEUE_AGE_FAIL_MS / 60_000} min)`, fix) : warn("queue", message, fix);
  },
};

export const deadLetterCheck: DoctorCheck = {
  id: "dead-letters",
  needsRedis: true,
  async run({ redis, manifest, sessionIds }) {
    const counts = await Promise.all(
      sessionIds.map(async (id) => ({
        key: sessionKeys(manifest.settings.prefix, id).deadLetter,
        n: await redis!.llen(sessionKeys(manifest.settings.prefix, id).deadLetter),
      })),
    );
    const full = counts.filter((c) => c.n > 0);
    if (!full.length) return ok("dead-letters", "no malformed events were dead-lettered");
    return warn(
      "dead-letters",
      full.map((c) => `${c.key}: ${c.n} malformed event(s)`).join("; "),
      `inspect: ${redisCliFor(manifest.settings.redisUrl)} LRANGE ${full[0]!.key} 0 -1; clear: ${redisCliFor(manifest.settings.redisUrl)} DEL ` +
        `${full.map((c) => c.key).join(" ")}`,
    );
  },
};

export const staleSessionsCheck: DoctorCheck = {
  id: "sessions",
  needsRedis: true,
  async run(ctx) {
    const sessions = await registeredSessions(ctx.redis!, ctx.manifest.settings.prefix);
    const stale = sessions.filter((session) => isSessionGone(session.record)).map((session) => session.id);
    const registry = sessionsRegistryKey(ctx.manifest.settings.prefix);
    if (stale.length) return warn("sessions", `${stale.length} registered session(s) are gone: ${stale.join(", ")}`, "gateway-setup doctor --fix");
    const registered = sessions.map((session) => session.id).sort();
    return ok(
      "sessions",
      registered.length
        ? `${registry}: ${registered.length} live session(s) registered (${registered.join(", ")})`
        : `${registry}: no session is registered right now, so none is stale`,
    );
  },
  async repair(ctx) {
    const pruned = await pruneDeadSessions(ctx.redis!, ctx.manifest.settings.prefix);
    return `removed ${pruned.length} stale session(s) from the registry`;
  },
};
