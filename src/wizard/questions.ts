// The wizard: asks only what the flags left open, and maps the answers to a tier.
import { CRON_SCHEDULERS, cronSchedule, parseInterval } from "../components/heartbeat/interval.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import {
  type Answers,
  DEFAULT_HEARTBEAT_EVERY,
  DEFAULT_REDIS_URL,
  type Goal,
  goalFor,
  type HeartbeatSource,
  type Scope,
  type SessionMode,
  tierFor,
} from "../core/answers.ts";
import { problemWith } from "./flags.ts";
import type { Prompter } from "./prompter.ts";

export async function askGoal(prompter: Prompter, initialValue: Goal = "notifications"): Promise<Goal> {
  return prompter.select<Goal>({
    id: "goal",
    message: "What should pi do for you?",
    options: [
      { value: "notifications", label: "Tell me about background work", hint: "tier 1: Redis event bridge" },
      { value: "always-on", label: "Keep an agent always on", hint: "tier 2: heartbeat + watchdog" },
      { value: "full-gateway", label: "Full gateway with phone access", hint: "tier 4: daemon + Telegram" },
    ],
    initialValue,
  });
}

/** Fills every answer: flags first, then prompts (interactive) or defaults (non-interactive). */
export interface AnswerDefaults {
  /** the heartbeat source this machine supports best (launchd on macOS, systemd, else cron) */
  heartbeat: HeartbeatSource;
  /** the sources this machine can run; the wizard offers only these */
  heartbeats?: readonly HeartbeatSource[];
  /** where each scope puts the extension, as shown to the user */
  extensionDirs?: Record<Scope, string>;
  /** what is installed now (src/wizard/installed.ts): a re-run's defaults, below the flags */
  installed?: Partial<Answers>;
}

export async function resolveAnswers(
  given: Partial<Answers>,
  prompter: Prompter | undefined,
  cwd: string,
  defaults: AnswerDefaults = { heartbeat: "cron" },
): Promise<Answers> {
  const ask = prompter;
  const was = defaults.installed ?? {};
  const goal: Goal = given.goal ?? (given.tier ? goalFor(given.tier) : ask ? await askGoal(ask, was.goal) : (was.goal ?? "notifications"));
  // the full gateway has satellites whatever the answer: the question would change nothing
  const sessions =
    given.sessions ??
    (ask && !given.tier && goal !== "full-gateway"
      ? await ask.select<SessionMode>({
          id: "sessions",
          message: "How many pi sessions do you run at the same time?",
          options: [
            { value: "one", label: "one" },
            { value: "several", label: "several", hint: "enables routing (tier 3)" },
          ],
          initialValue: was.sessions ?? "one",
        })
      : given.tier
        ? "one"
        : (was.sessions ?? "one"));
  const tier = given.tier ?? tierFor(goal, sessions);

  const redisUrl =
    given.redisUrl ??
    (ask
      ? await ask.text({
          id: "redisUrl",
          message: "Redis URL",
          initialValue: was.redisUrl ?? DEFAULT_REDIS_URL,
          validate: problemWith(parseRedisUrl),
        })
      : (was.redisUrl ?? DEFAULT_REDIS_URL));
  const scope =
    given.scope ??
    (ask
      ? await ask.select<Scope>({
          id: "scope",
          message: "Where should the pi extension be installed?",
          options: [
            { value: "global", label: "for every project", hint: defaults.extensionDirs?.global ?? "the pi agent dir" },
            {
              value: "project",
              label: "for this project only",
              hint: defaults.extensionDirs?.project ?? `${projectDirFor(given, was, cwd)}/.pi/extensions/gateway`,
            },
          ],
          initialValue: was.scope ?? "global",
        })
      : (was.scope ?? "global"));

  const tier2 = tier >= 2 ? await askTier2(given, ask, defaults) : {};
  const tier4 = tier >= 4 ? await askTier4(given, ask, defaults) : {};
  return {
    ...tier2,
    ...tier4,
    tier,
    goal,
    sessions,
    redisUrl,
    prefix: given.prefix ?? was.prefix ?? "agent",
    scope,
    projectDir: projectDirFor(given, was, cwd),
    installRedis: given.installRedis ?? false,
    ...(given.redisPassword ? { redisPassword: given.redisPassword } : {}),
  };
}

/** The installed project stays the project unless the flags name a scope (then "this project" is the current directory) or a folder. */
export function projectDirFor(given: Partial<Answers>, was: Partial<Answers>, cwd: string): string {
  return given.projectDir ?? (given.scope ? cwd : (was.projectDir ?? cwd));
}

async function askTier2(given: Partial<Answers>, ask: Prompter | undefined, defaults: AnswerDefaults): Promise<Partial<Answers>> {
  const was = defaults.installed ?? {};
  // the installed source, while this machine (and --service) still offers it
  const defaultSource = was.heartbeat && (!defaults.heartbeats || defaults.heartbeats.includes(was.heartbeat)) ? was.heartbeat : defaults.heartbeat;
  // "nothing" would leave --heartbeat-every or --heartbeat-file with nothing to do
  const offered = (source: HeartbeatSource) =>
    (!defaults.heartbeats || defaults.heartbeats.includes(source)) && (source !== "none" || (!given.heartbeatEvery && !given.heartbeatFile));
  const heartbeat =
    given.heartbeat ??
    (ask
      ? await ask.select<HeartbeatSource>({
          id: "heartbeat",
          message: "What should send the heartbeat?",
          options: (
            [
              { value: "launchd", label: "launchd", hint: "macOS" },
              { value: "systemd", label: "a systemd timer", hint: "Linux" },
              { value: "cron", label: "cron", hint: "a marked block in your crontab" },
              { value: "inngest", label: "an Inngest function", hint: "you serve it" },
              { value: "none", label: "nothing for now" },
            ] as const
          ).filter((option) => offered(option.value)),
          initialValue: offered(defaultSource) ? defaultSource : defaults.heartbeat,
        })
      : defaultSource);
  // without a heartbeat source there is no interval to keep (and no watchdog to time)
  const heartbeatEvery =
    given.heartbeatEvery ??
    (ask && heartbeat !== "none"
      ? await ask.text({
          id: "heartbeatEvery",
          message: "Heartbeat interval",
          initialValue: was.heartbeatEvery ?? DEFAULT_HEARTBEAT_EVERY,
          validate: problemWith((value) => {
            const seconds = parseInterval(value);
            if (heartbeat === "cron" || heartbeat === "inngest") cronSchedule(seconds, CRON_SCHEDULERS[heartbeat]);
          }),
        })
      : (was.heartbeatEvery ?? DEFAULT_HEARTBEAT_EVERY));
  const heartbeatFile = given.heartbeatFile ?? was.heartbeatFile;
  const serviceLabel = given.serviceLabel ?? was.serviceLabel;
  const service = given.service ?? was.service;
  return {
    heartbeat,
    heartbeatEvery,
    ...(heartbeatFile ? { heartbeatFile } : {}),
    ...(serviceLabel ? { serviceLabel } : {}),
    ...(service ? { service } : {}),
  };
}

/** Who may talk to the bot: user ids, or pairing codes for whoever writes first. */
async function askTier4(given: Partial<Answers>, ask: Prompter | undefined, defaults: AnswerDefaults): Promise<Partial<Answers>> {
  const was = defaults.installed ?? {};
  const allow =
    given.telegramAllow ??
    (ask
      ? parseIdList(
          await ask.text({
            id: "telegramAllow",
            message: "Your Telegram user id (and others allowed, comma-separated; empty: use pairing codes)",
            initialValue: (was.telegramAllow ?? []).join(", "),
            placeholder: "e.g. 123456789 (ask @userinfobot)",
            validate: problemWith(parseIdList),
          }),
        )
      : (was.telegramAllow ?? []));
  const pairing =
    given.telegramPairing ??
    (ask
      ? await ask.confirm({
          id: "telegramPairing",
          message: "Answer unknown users with a one-time pairing code (gateway-setup pair <code> admits them)?",
          initialValue: was.telegramPairing ?? allow.length === 0,
        })
      : (was.telegramPairing ?? allow.length === 0));
  const apiRoot = given.telegramApiRoot ?? was.telegramApiRoot;
  const notify = given.telegramNotify ?? was.telegramNotify;
  const model = given.model ?? was.model;
  return {
    telegramAllow: allow,
    telegramPairing: pairing,
    ...(apiRoot ? { telegramApiRoot: apiRoot } : {}),
    ...(notify ? { telegramNotify: notify } : {}),
    ...(model ? { model } : {}),
    ...(given.telegramToken ? { telegramToken: given.telegramToken } : {}),
  };
}

/** "123, 456" -> [123, 456]; empty -> []. */
export function parseIdList(text: string): number[] {
  const parts = text
    .split(/[\s,]+/)
    .map((part) => part.trim())
    .filter(Boolean);
  for (const part of parts) if (!/^[1-9][0-9]{0,15}$/.test(part)) throw new Error(`${JSON.stringify(part)} is not a numeric Telegram user id`);
  return [...new Set(parts.map(Number))];
}
