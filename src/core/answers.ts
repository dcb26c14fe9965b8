// What the user wants, as data. Every answer has a flag and a prompt; the tier follows from them.
import { UsageError } from "./errors.ts";

export const GOALS = ["notifications", "always-on", "full-gateway"] as const;
export const EVENT_SOURCES = ["cron", "inngest", "mixed"] as const;
export const SESSION_MODES = ["one", "several"] as const;
export const SCOPES = ["global", "project"] as const;
export const HEARTBEAT_SOURCES = ["cron", "launchd", "systemd", "inngest", "none"] as const;

export type Goal = (typeof GOALS)[number];
export type EventSources = (typeof EVENT_SOURCES)[number];
export type SessionMode = (typeof SESSION_MODES)[number];
export type Scope = (typeof SCOPES)[number];
export type HeartbeatSource = (typeof HEARTBEAT_SOURCES)[number];
export type Tier = 1 | 2 | 3 | 4;

export const TIER_NAMES: Record<Tier, string> = {
  1: "Notification bridge",
  2: "Always-on + heartbeat",
  3: "Multi-session",
  4: "Full gateway",
};

/** Tiers this version can install. */
export const AVAILABLE_TIERS: readonly Tier[] = [1, 2, 3];

export interface Answers {
  tier: Tier;
  goal: Goal;
  eventSources: EventSources;
  sessions: SessionMode;
  redisUrl: string;
  /** only ever held in memory; written to a 0600 file */
  redisPassword?: string;
  prefix: string;
  scope: Scope;
  projectDir: string;
  /** consent to install/start Redis with the platform's package manager when none answers */
  installRedis: boolean;
  /** tier 2: what pushes the heartbeat, how often, and the service label */
  heartbeat?: HeartbeatSource;
  heartbeatEvery?: string;
  heartbeatFile?: string;
  serviceLabel?: string;
  /** what keeps the central session running; detected unless given */
  service?: "launchd" | "systemd" | "none";
}

/**
 * What an install records of its answers: what a re-run starts from, and what doctor's "re-run
 * with your settings" says. Never the password, never the one-time consent to install Redis.
 */
export type InstalledAnswers = Partial<Omit<Answers, "redisPassword" | "installRedis">>;

export const DEFAULT_HEARTBEAT_EVERY = "15m";
export const DEFAULT_SERVICE_LABEL = "dev.gateway-setup.pi-central";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** What a tier adds: from 2 a central session (with heartbeat and watchdog), from 3 satellite sessions. */
export function tierShape(tier: Tier): { central: boolean; mode: "single" | "central" | "multi" } {
  return { central: tier >= 2, mode: tier >= 3 ? "multi" : tier >= 2 ? "central" : "single" };
}

export function tierFor(goal: Goal, sessions: SessionMode): Tier {
  if (goal === "full-gateway") return 4;
  if (sessions === "several") return 3;
  return goal === "always-on" ? 2 : 1;
}

export function goalFor(tier: Tier): Goal {
  return tier === 1 ? "notifications" : tier === 4 ? "full-gateway" : "always-on";
}

export class TierUnavailableError extends UsageError {
  constructor(readonly tier: Tier) {
    super(
      `tier ${tier} (${TIER_NAMES[tier]}) is not available yet in this version of gateway-setup. ` +
        `Available: ${AVAILABLE_TIERS.map((t) => `--tier ${t} (${TIER_NAMES[t]})`).join(", ")}.`,
    );
  }
}

export function assertTierAvailable(tier: Tier): void {
  if (!AVAILABLE_TIERS.includes(tier)) throw new TierUnavailableError(tier);
}
