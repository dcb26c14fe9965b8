// Command-line flags -> the answers they fix. Each flag is validated here, with an error that
// names the accepted values; an unset flag leaves its question open.
import { assertPrefix } from "../protocol/keys.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import {
  EVENT_SOURCES,
  GOALS,
  SCOPES,
  SESSION_MODES,
  type Answers,
  type Tier,
} from "./answers.ts";

export interface SetupFlags {
  tier?: string;
  goal?: string;
  sources?: string;
  sessions?: string;
  redisUrl?: string;
  prefix?: string;
  scope?: string;
  projectDir?: string;
  installRedis?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export class UsageError extends Error {}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

export function answersFromFlags(flags: SetupFlags): Partial<Answers> {
  const answers: Partial<Answers> = {};
  if (flags.tier !== undefined) {
    if (!/^[1-4]$/.test(flags.tier)) throw new UsageError(`--tier must be 1, 2, 3 or 4 (got ${JSON.stringify(flags.tier)})`);
    answers.tier = Number(flags.tier) as Tier;
  }
  const goal = oneOf("goal", flags.goal, GOALS);
  if (goal) answers.goal = goal;
  const sources = oneOf("sources", flags.sources, EVENT_SOURCES);
  if (sources) answers.eventSources = sources;
  const sessions = oneOf("sessions", flags.sessions, SESSION_MODES);
  if (sessions) answers.sessions = sessions;
  const scope = oneOf("scope", flags.scope, SCOPES);
  if (scope) answers.scope = scope;
  if (flags.redisUrl !== undefined) {
    try {
      parseRedisUrl(flags.redisUrl);
    } catch (error) {
      throw new UsageError(`--redis-url: ${(error as Error).message}`);
    }
    answers.redisUrl = flags.redisUrl;
  }
  if (flags.prefix !== undefined) {
    try {
      answers.prefix = assertPrefix(flags.prefix);
    } catch (error) {
      throw new UsageError(`--prefix: ${(error as Error).message}`);
    }
  }
  if (flags.projectDir !== undefined) answers.projectDir = flags.projectDir;
  if (flags.installRedis !== undefined) answers.installRedis = flags.installRedis;
  return answers;
}
