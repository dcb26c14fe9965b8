// Command-line flags -> the answers they fix. Each flag is validated here, with an error that
// names the accepted values; an unset flag leaves its question open.

import { resolve } from "node:path";
import { parseInterval } from "../components/heartbeat/interval.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import { type Answers, DEFAULT_SERVICE_LABEL, GOALS, goalFor, HEARTBEAT_SOURCES, SCOPES, SESSION_MODES, type Tier, tierFor } from "../core/answers.ts";
import { UsageError } from "../core/errors.ts";
import type { Env } from "../platform/exec.ts";
import { expandHome } from "../platform/paths.ts";
import { assertPrefix } from "../runtime/protocol/keys.ts";

export interface SetupFlags {
  tier?: string;
  goal?: string;
  sessions?: string;
  redisUrl?: string;
  prefix?: string;
  scope?: string;
  projectDir?: string;
  installRedis?: boolean;
  heartbeat?: string;
  heartbeatEvery?: string;
  heartbeatFile?: string;
  serviceLabel?: string;
  service?: string;
  telegramAllow?: string[];
  telegramPairing?: string;
  telegramApiRoot?: string;
  telegramNotify?: string[];
  model?: string;
  yes?: boolean;
  dryRun?: boolean;
  /** the plan with every command whole */
  verbose?: boolean;
  json?: boolean;
}

export { UsageError };

/** Turns a throwing check into a validator that returns the problem, or undefined. */
export function problemWith(check: (value: string) => unknown): (value: string) => string | undefined {
  return (value) => {
    try {
      check(value);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  };
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

/** The value, if `check` accepts it; otherwise a usage error that names the flag. */
function checked(flag: string, value: string, check: (value: string) => unknown): string {
  const problem = problemWith(check)(value);
  if (problem) throw new UsageError(`--${flag}: ${problem}`);
  return value;
}

/** `env` supplies HOME for a path flag the shell left as `~/...` (as in `--heartbeat-file=~/HB.md`). */
export function answersFromFlags(flags: SetupFlags, env: Env = process.env): Partial<Answers> {
  const answers: Partial<Answers> = {};
  if (flags.tier !== undefined) {
    if (!/^[1-4]$/.test(flags.tier)) throw new UsageError(`--tier must be 1, 2, 3 or 4 (got ${JSON.stringify(flags.tier)})`);
    answers.tier = Number(flags.tier) as Tier;
  }
  const goal = oneOf("goal", flags.goal, GOALS);
  if (goal) answers.goal = goal;
  const sessions = oneOf("sessions", flags.sessions, SESSION_MODES);
  if (sessions) answers.sessions = sessions;
  const scope = oneOf("scope", flags.scope, SCOPES);
  if (scope) answers.scope = scope;
  if (flags.projectDir !== undefined) answers.scope = projectScope(scope);
  if (flags.redisUrl !== undefined) answers.redisUrl = checked("redis-url", flags.redisUrl, parseRedisUrl);
  if (flags.prefix !== undefined) answers.prefix = checked("prefix", flags.prefix, assertPrefix);
  if (flags.projectDir !== undefined) answers.projectDir = expandHome(flags.projectDir, env);
  if (flags.installRedis !== undefined) answers.installRedis = flags.installRedis;
  const heartbeat = oneOf("heartbeat", flags.heartbeat, HEARTBEAT_SOURCES);
  if (heartbeat) answers.heartbeat = heartbeat;
  if (flags.heartbeatEvery !== undefined) answers.heartbeatEvery = checked("heartbeat-every", flags.heartbeatEvery, parseInterval);
  // stored as given, a relative path would be read relative to wherever the central pi runs
  if (flags.heartbeatFile !== undefined) answers.heartbeatFile = resolve(expandHome(flags.heartbeatFile, env));
  const service = oneOf("service", flags.service, ["launchd", "systemd", "none"] as const);
  if (service) answers.service = service;
  if (flags.serviceLabel !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$/.test(flags.serviceLabel)) {
      throw new UsageError(`--service-label must be a reverse-DNS name like ${DEFAULT_SERVICE_LABEL} (letters, digits, dots, dashes)`);
    }
    answers.serviceLabel = flags.serviceLabel;
  }
  if (flags.telegramAllow !== undefined) answers.telegramAllow = telegramIds("telegram-allow", flags.telegramAllow);
  if (flags.telegramNotify !== undefined) answers.telegramNotify = telegramIds("telegram-notify", flags.telegramNotify);
  const pairing = oneOf("telegram-pairing", flags.telegramPairing, ["on", "off"] as const);
  if (pairing) answers.telegramPairing = pairing === "on";
  if (flags.telegramApiRoot !== undefined) answers.telegramApiRoot = checked("telegram-api-root", flags.telegramApiRoot, assertHttpUrl);
  if (flags.model !== undefined) {
    if (!/^[^/\s]+\/\S+$/.test(flags.model))
      throw new UsageError(`--model must be provider/id, e.g. anthropic/claude-sonnet-4-5 (got ${JSON.stringify(flags.model)})`);
    answers.model = flags.model;
  }
  refuseConflicts(flags, answers);
  refuseHeartbeatContradiction(answers, answers.heartbeat);
  return answers;
}

/** --project-dir names the project the extension goes into: it means --scope project, and contradicts --scope global. */
function projectScope(scope: Answers["scope"] | undefined): "project" {
  if (scope === "global") {
    throw new UsageError("--project-dir contradicts --scope global (the extension would go to the agent dir, not the project): give one of them");
  }
  return "project";
}

/** --heartbeat-every and --heartbeat-file have nothing to do without a heartbeat: given with one that is none, they are refused, not ignored. */
export function refuseHeartbeatContradiction(given: Partial<Answers>, heartbeat: Answers["heartbeat"]): void {
  if (heartbeat !== "none") return;
  const named = [
    ...(given.heartbeatEvery !== undefined ? [`--heartbeat-every ${given.heartbeatEvery}`] : []),
    ...(given.heartbeatFile !== undefined ? ["--heartbeat-file"] : []),
  ];
  if (!named.length) return;
  throw new UsageError(
    `${named.join(" and ")} ${named.length === 1 ? "has" : "have"} nothing to do with no heartbeat (--heartbeat none)`,
    "drop it, or choose what sends the heartbeat with --heartbeat (cron, launchd, systemd or inngest)",
  );
}

/** Telegram user ids: positive integers (private chats only, so a chat id is the user id). */
function telegramIds(flag: string, values: string[]): number[] {
  const ids = values.map((value) => {
    if (!/^[1-9][0-9]{0,15}$/.test(value)) {
      throw new UsageError(`--${flag} takes numeric Telegram user ids, e.g. 123456789 (got ${JSON.stringify(value)}); ask @userinfobot for yours`);
    }
    return Number(value);
  });
  return [...new Set(ids)];
}

function assertHttpUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("must be an http:// or https:// URL");
}

/** --tier fixes what --goal and --sessions would otherwise decide: they must agree with it. */
function refuseConflicts(flags: SetupFlags, answers: Partial<Answers>): void {
  const { tier, goal, sessions } = answers;
  if (!tier) return;
  if (goal && goalFor(tier) !== goal) {
    throw new UsageError(`--tier ${tier} conflicts with --goal ${flags.goal} (that goal is tier ${tierFor(goal, sessions ?? "one")}); give one of them`);
  }
  if (sessions && (sessions === "several") !== (tier === 3)) {
    throw new UsageError(`--tier ${tier} conflicts with --sessions ${flags.sessions} (several sessions is tier 3); give one of them`);
  }
}

const TIER2_FLAGS: [keyof Answers, string][] = [
  ["heartbeat", "--heartbeat"],
  ["heartbeatEvery", "--heartbeat-every"],
  ["heartbeatFile", "--heartbeat-file"],
  ["service", "--service"],
  ["serviceLabel", "--service-label"],
];

const TIER4_FLAGS: [keyof Answers, string][] = [
  ["telegramAllow", "--telegram-allow"],
  ["telegramPairing", "--telegram-pairing"],
  ["telegramApiRoot", "--telegram-api-root"],
  ["telegramNotify", "--telegram-notify"],
  ["model", "--model"],
];

/** Flags for parts the chosen tier does not have would be silently ignored, so they are refused. */
export function refuseFlagsAboveTier(given: Partial<Answers>, tier: Tier): void {
  const refuse = (flags: [keyof Answers, string][], from: Tier, what: string) => {
    const named = flags.filter(([answer]) => given[answer] !== undefined).map(([, flag]) => flag);
    if (!named.length) return;
    const one = named.length === 1;
    throw new UsageError(
      `${named.join(", ")} ${one ? "applies" : "apply"} from tier ${from} on, and this run installs tier ${tier} (${what}): ` +
        `drop ${one ? "it" : "them"}, or choose --tier ${from}`,
    );
  };
  if (tier === 1) refuse(TIER2_FLAGS, 2, "no heartbeat, no service");
  if (tier < 4) refuse(TIER4_FLAGS, 4, "no daemon, no Telegram");
}
