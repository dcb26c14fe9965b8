export const GOALS = ["notifications", "always-on", "full-gateway"] as const;
export const SESSION_MODES = ["one", "several"] as const;
export const SCOPES = ["global", "project"] as const;
export const HEARTBEAT_SOURCES = ["cron", "launchd", "systemd", "inngest", "none"] as const;

export type Goal = (typeof GOALS)[number];
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

export interface Answers {
  tier: Tier;
  goal: Goal;
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
  /** tier 4: the bot token, only ever held in memory (from TELEGRAM_BOT_TOKEN or a hidden prompt); written to the 0600 secrets file */
  telegramToken?: string;
  /** tier 4: who may talk to the bot (numeric Telegram user ids; the first is the owner) */
  telegramAllow?: number[];
  /** tier 4: unknown users get a one-time code that `gateway-setup pair <code>` admits */
  telegramPairing?: boolean;
  /** tier 4: another Bot API server (a self-hosted telegram-bot-api) */
  telegramApiRoot?: string;
  /** tier 4: where replies to background events go (default: the owner) */
  telegramNotify?: number[];
  /** tier 4: the bot, as getMe named it when setup checked the token */
  telegramBot?: { id: number; username: string };
  /** tier 4: the daemon's model, provider/id (default: pi's own default model) */
  model?: string;
}

/**
 * What an install records of its answers: what a re-run starts from, and what doctor's "re-run
 * with your settings" says. Never the password, never the one-time consent to install Redis.
 */
export type InstalledAnswers = Partial<Omit<Answers, "redisPassword" | "installRedis" | "telegramToken">>;

export const DEFAULT_HEARTBEAT_EVERY = "15m";
export const DEFAULT_SERVICE_LABEL = "dev.gateway-setup.pi-central";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/**
 * What a tier adds: from 2 a central session (with heartbeat and watchdog), from 3 satellite
 * sessions, at 4 the daemon (embedded pi and Telegram) as the central session instead of pi in tmux.
 */
export function tierShape(tier: Tier): { central: boolean; mode: "single" | "central" | "multi"; daemon: boolean } {
  return { central: tier >= 2, mode: tier >= 3 ? "multi" : tier >= 2 ? "central" : "single", daemon: tier >= 4 };
}

export function tierFor(goal: Goal, sessions: SessionMode): Tier {
  if (goal === "full-gateway") return 4;
  if (sessions === "several") return 3;
  return goal === "always-on" ? 2 : 1;
}

export function goalFor(tier: Tier): Goal {
  return tier === 1 ? "notifications" : tier === 4 ? "full-gateway" : "always-on";
}
