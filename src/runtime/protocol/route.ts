// Routing: which sessions an event goes to. One implementation, used by `gateway-setup push`,
// exported for producers, and documented as its shell equivalent in the README.
//
//   heartbeats           -> the primary session only
//   originSession given  -> that session (if it is alive) and the primary session
//   anything else        -> the primary session
// where the primary session is `gateway` (central) when it is alive, otherwise the explicit
// fallback, otherwise the session named by `<prefix>:gateway:default` (set by the installed
// session when it claims its id), otherwise `main`: nothing is pushed where nobody reads.
// The decision and the pushes happen in one Lua script (one round trip, atomic), the origin's
// liveness included: its key, and for a satellite whether its process still runs here. Pushes
// called while another is still waiting share that script call (route-batch.ts).
import { hostname } from "node:os";
import { type GatewayEvent, HEARTBEAT_EVENT_TYPE } from "./event.ts";
import { assertPrefix, assertSessionId } from "./keys.ts";
import { serializeEvent } from "./push.ts";
import { registeredSessions } from "./registry-scripts.ts";
import { type RoutedPush, routeAndPush } from "./route-batch.ts";
import type { ScriptClient } from "./scripts.ts";
import { isPidRunning, isSessionGone, isZombie } from "./sessions.ts";

export const CENTRAL_SESSION = "gateway";
const LAST_RESORT_SESSION = "main";

/** The routing rule on a known set of live sessions (the script below applies it inside Redis). */
export function routeTargets(event: Pick<GatewayEvent, "type" | "originSession">, live: ReadonlySet<string>, fallbackSession = LAST_RESORT_SESSION): string[] {
  const primary = live.has(CENTRAL_SESSION) ? CENTRAL_SESSION : fallbackSession;
  if (event.type === HEARTBEAT_EVENT_TYPE) return [primary];
  const origin = event.originSession;
  return origin && origin !== primary && live.has(origin) ? [origin, primary] : [primary];
}

/** Registered sessions that are alive (the liveness key exists and its owner is not a dead process on this machine). */
export async function liveSessions(redis: ScriptClient, prefix: string): Promise<Set<string>> {
  return new Set((await registeredSessions(redis, prefix)).filter((s) => !isSessionGone(s.record)).map((s) => s.id));
}

export interface PushEventOptions {
  prefix: string;
  event: GatewayEvent;
  /** consume here when central is not alive, whatever the default key says */
  fallbackSession?: string;
  /** when neither central nor the default key names a session (default `main`) */
  lastResortSession?: string;
}

/**
 * A satellite's process check on the push path: kill(pid, 0) every time (one cheap system call,
 * and a process that exited and was reaped is seen at once), but the /proc read that tells a
 * killed, not yet reaped process (a zombie) at most once a second per pid.
 */
const ZOMBIE_CHECK_TTL_MS = 1000;
const zombieChecks = new Map<number, { zombie: boolean; at: number }>();

function isZombieCached(pid: number): boolean {
  const now = Date.now();
  let known = zombieChecks.get(pid);
  if (!known || now - known.at >= ZOMBIE_CHECK_TTL_MS) {
    if (zombieChecks.size >= 1024) zombieChecks.clear();
    known = { zombie: isZombie(pid), at: now };
    zombieChecks.set(pid, known);
  }
  return known.zombie;
}

/**
 * The origin the script may route to, as one argument: '' for none (heartbeats go to the primary
 * only), else `<origin>` or, for a satellite (`pid-<pid>`) whose process is gone here,
 * `<origin>\n<this host>\n<pid>`: the pid its liveness key may not be owned by, so it is no target
 * while that key lasts. Only satellites get this process check: their id is never claimed again,
 * so their queue would wait for pruning. Another session's queue is durable and read by the next pi
 * that claims the id (a dead owner's claim is taken over at once), so its liveness key decides.
 */
function originArg(event: GatewayEvent): string {
  const origin = event.originSession;
  if (!origin || origin === CENTRAL_SESSION || event.type === HEARTBEAT_EVENT_TYPE) return "";
  const pid = /^pid-(\d+)$/.exec(origin)?.[1];
  return pid && !isPidRunning(Number(pid), isZombieCached) ? `${origin}\n${hostname()}\n${pid}` : origin;
}

export type { RoutedPush };

/**
 * Routes and pushes one event: LPUSH (+ PUBLISH when the queue was empty) per target, decided and
 * done in one script call, shared with the pushes called in the same tick while one is waiting.
 */
export function pushEvent(redis: ScriptClient, options: PushEventOptions): Promise<RoutedPush> {
  try {
    const prefix = assertPrefix(options.prefix);
    const fallback = options.fallbackSession === undefined ? "" : assertSessionId(options.fallbackSession);
    const lastResort = assertSessionId(options.lastResortSession ?? LAST_RESORT_SESSION);
    const { event, payload } = serializeEvent(options.event);
    return routeAndPush(redis, [prefix, fallback, lastResort], event, [payload, event.id, originArg(event)]);
  } catch (error) {
    return Promise.reject(error);
  }
}
