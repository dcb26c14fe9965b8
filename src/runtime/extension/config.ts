// Configuration of the installed gateway extension. The installer renders these values into the
// extension's index.ts; secrets (the Redis password) live in a 0600 env file, never in index.ts.
import type { ConsumerConfig } from "../consumer/consumer.ts";

/** The consumer's settings (the queue, Redis, batching, de-duplication: see consumer.ts), and pi's side of it. */
export interface GatewayConfig extends ConsumerConfig {
  /**
   * "single" (tier 1): a pi that loads the extension consumes `sessionId`.
   * "central" (tier 2): only the pi started with GATEWAY_ROLE=central consumes `sessionId`
   * (and runs the heartbeat watchdog); any other pi leaves the queue alone.
   * "multi" (tier 3): GATEWAY_ROLE=central consumes `sessionId`; every other pi joins as a
   * satellite on its own queue `pid-<pid>`.
   * In every mode one session id has one consumer: a second pi claiming it is refused.
   */
  mode: "single" | "central" | "multi";
  /** the central session's heartbeat handling and in-extension watchdog (tier 2) */
  heartbeat?: HeartbeatConfig;
  /**
   * false: never tell routing that this session is where events go by default (the installer's
   * self-test on a throw-away id); satellites never do
   */
  announceDefault?: boolean;
  /** how long pi may take to start the turn for a handed-off message (default 60 s) */
  acceptTimeoutMs?: number;
}

export interface HeartbeatConfig {
  /** how often the heartbeat source pushes; the watchdog alarms after twice this without one */
  intervalSeconds: number;
  /** the HEARTBEAT.md checklist sent with every heartbeat */
  checklistFile: string;
  /** written on every heartbeat, read by the independent tripwire and by doctor */
  lastHeartbeatFile: string;
  /** no alarm this soon after start; defaults to twice the interval */
  graceSeconds?: number;
  /** what sends the heartbeats, named in the alarm (absent in extensions older setups installed) */
  source?: "cron" | "launchd" | "systemd" | "inngest";
}

/** the session id tier 1 consumes, and the way in that producers written for tier 1 use */
export const TIER1_SESSION_ID = "main";

export const DEFAULT_GATEWAY_CONFIG: GatewayConfig = {
  mode: "single",
  sessionId: TIER1_SESSION_ID,
  prefix: "agent",
  redisUrl: "redis://127.0.0.1:6379",
  dedupeTtlSeconds: 7 * 24 * 60 * 60,
  maxBatch: 50,
  pollIntervalMs: 30_000,
};

/** Environment variables that override the rendered config at run time. */
export { ENV_REDIS_PASSWORD, ENV_REDIS_URL } from "../consumer/connection.ts";
/** `central` | `satellite` | `disabled` */
export const ENV_ROLE = "GATEWAY_ROLE";
export const KNOWN_ROLES = ["central", "satellite", "disabled"];

/** A GATEWAY_ROLE that is set but means nothing (a typo, a capital letter), said rather than guessed around. */
export function unknownRole(env: Record<string, string | undefined>): string | undefined {
  const role = env[ENV_ROLE];
  return role && !KNOWN_ROLES.includes(role) ? role : undefined;
}

export interface SessionRole {
  sessionId: string;
  /** the central session gets the heartbeats and runs the watchdog */
  central: boolean;
  /** a tier-3 satellite (`pid-<pid>`): only events that name it as origin */
  satellite: boolean;
}

/** Which queue this pi consumes, from the mode and GATEWAY_ROLE; undefined: none. */
export function sessionRole(config: GatewayConfig, env: Record<string, string | undefined>, pid = process.pid): SessionRole | undefined {
  const role = env[ENV_ROLE];
  if (role === "disabled") return undefined;
  if (role === "central" && config.mode !== "single") return { sessionId: config.sessionId, central: true, satellite: false };
  if (config.mode === "single") return { sessionId: config.sessionId, central: false, satellite: false };
  if (config.mode === "multi") return { sessionId: `pid-${pid}`, central: false, satellite: true };
  return undefined;
}
