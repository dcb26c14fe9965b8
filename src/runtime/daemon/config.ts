// The daemon's configuration: one JSON file written by setup, read at every start. Other
// sections of the same file (e.g. `telegram`) belong to their own readers and are ignored here.
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import type { HeartbeatConfig } from "../extension/config.ts";
import { PREFIX_PATTERN } from "../protocol/keys.ts";

export interface DaemonConfig {
  /** Redis key prefix (`agent`) */
  prefix: string;
  /** Redis URL without password; the password comes from the secrets file */
  redisUrl: string;
  /** the 0600 KEY=VALUE file (GATEWAY_REDIS_PASSWORD, the bot token) */
  secretsFile?: string;
  /** pi's agent dir */
  agentDir: string;
  /** the pi session's working directory; default HOME */
  cwd?: string;
  /** `provider/id`; default pi's defaultProvider/defaultModel */
  model?: string;
  /** where the daemon's conversation persists; default <agentDir>/gateway-daemon/sessions */
  sessionDir?: string;
  /** where the daemon writes its status file (daemon-status.json) */
  stateDir: string;
  /** heartbeats quote this checklist; the in-daemon watchdog alarms after twice the interval without one */
  heartbeat?: HeartbeatConfig;
  /** a turn running longer is aborted and reported to the owner (default 10 min) */
  stuckTurnMs: number;
  /** how long an event id is remembered for de-duplication (default 7 days) */
  dedupeTtlSeconds: number;
  /** at most this many events in one turn (default 50) */
  maxBatch: number;
  /** safety-net poll of the queue (default 30 s) */
  pollIntervalMs: number;
  /** how often the claim on the session id is refreshed (default 20 s) */
  claimRefreshMs?: number;
  /** how often the status file is rewritten when nothing changes (default 5 s) */
  statusEveryMs: number;
}

export const DAEMON_DEFAULTS = {
  prefix: "agent",
  stuckTurnMs: 10 * 60_000,
  dedupeTtlSeconds: 7 * 24 * 60 * 60,
  maxBatch: 50,
  pollIntervalMs: 30_000,
  statusEveryMs: 5_000,
} satisfies Partial<DaemonConfig>;

export class DaemonConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DaemonConfigError";
  }
}

type Raw = Record<string, unknown>;

/** Reads and checks the config file; every problem is a DaemonConfigError naming the file and the field. */
export function loadDaemonConfig(path: string): DaemonConfig {
  return parseDaemonConfig(readDaemonConfigJson(path), path);
}

/** The config file's JSON, unchecked (for readers of its other sections); a DaemonConfigError when it cannot be read or parsed. */
export function readDaemonConfigJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DaemonConfigError(`cannot read the daemon's config ${path}: ${(error as Error).message}. Re-run \`gateway-setup\` (or \`doctor --fix\`).`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new DaemonConfigError(`the daemon's config ${path} is not JSON: ${(error as Error).message}`);
  }
  return raw;
}

export function parseDaemonConfig(raw: unknown, where = "the daemon's config"): DaemonConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new DaemonConfigError(`${where}: expected a JSON object`);
  const fields = new Fields(raw as Raw, where);
  const prefix = fields.string("prefix") ?? DAEMON_DEFAULTS.prefix;
  if (!PREFIX_PATTERN.test(prefix)) fields.fail("prefix", `must match ${PREFIX_PATTERN}`);
  const redisUrl = fields.required(fields.string("redisUrl"), "redisUrl");
  if (!/^rediss?:\/\//.test(redisUrl)) fields.fail("redisUrl", "must start with redis:// or rediss://");
  const model = fields.string("model");
  if (model !== undefined && !/^[^/\s]+\/\S+$/.test(model)) fields.fail("model", "must be provider/id");
  const config: DaemonConfig = {
    prefix,
    redisUrl,
    agentDir: fields.required(fields.path("agentDir"), "agentDir"),
    stateDir: fields.required(fields.path("stateDir"), "stateDir"),
    stuckTurnMs: fields.positive("stuckTurnMs") ?? DAEMON_DEFAULTS.stuckTurnMs,
    dedupeTtlSeconds: fields.positive("dedupeTtlSeconds") ?? DAEMON_DEFAULTS.dedupeTtlSeconds,
    maxBatch: fields.positive("maxBatch") ?? DAEMON_DEFAULTS.maxBatch,
    pollIntervalMs: fields.positive("pollIntervalMs") ?? DAEMON_DEFAULTS.pollIntervalMs,
    statusEveryMs: fields.positive("statusEveryMs") ?? DAEMON_DEFAULTS.statusEveryMs,
  };
  const optional = {
    secretsFile: fields.path("secretsFile"),
    cwd: fields.path("cwd"),
    model,
    sessionDir: fields.path("sessionDir"),
    claimRefreshMs: fields.positive("claimRefreshMs"),
    heartbeat: heartbeatConfig(raw as Raw, where),
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(config, { [key]: value });
  return config;
}

const HEARTBEAT_SOURCES: readonly string[] = ["cron", "launchd", "systemd", "inngest"];

function heartbeatConfig(raw: Raw, where: string): HeartbeatConfig | undefined {
  const value = raw.heartbeat;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw new DaemonConfigError(`${where}: heartbeat must be an object`);
  const fields = new Fields(value as Raw, `${where}: heartbeat`);
  const heartbeat: HeartbeatConfig = {
    intervalSeconds: fields.required(fields.positive("intervalSeconds"), "intervalSeconds"),
    checklistFile: fields.required(fields.path("checklistFile"), "checklistFile"),
    lastHeartbeatFile: fields.required(fields.path("lastHeartbeatFile"), "lastHeartbeatFile"),
  };
  const graceSeconds = fields.positive("graceSeconds");
  if (graceSeconds !== undefined) heartbeat.graceSeconds = graceSeconds;
  const source = fields.string("source");
  if (source !== undefined) {
    if (!HEARTBEAT_SOURCES.includes(source)) fields.fail("source", `must be one of ${HEARTBEAT_SOURCES.join(", ")}`);
    heartbeat.source = source as NonNullable<HeartbeatConfig["source"]>;
  }
  return heartbeat;
}

class Fields {
  constructor(
    private readonly raw: Raw,
    private readonly where: string,
  ) {}

  fail(key: string, problem: string): never {
    throw new DaemonConfigError(`${this.where}: ${key} ${problem}`);
  }

  required<T>(value: T | undefined, key: string): T {
    return value ?? this.fail(key, "is missing");
  }

  string(key: string): string | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || !value) this.fail(key, "must be a non-empty string");
    return value;
  }

  path(key: string): string | undefined {
    const value = this.string(key);
    if (value !== undefined && !isAbsolute(value)) this.fail(key, `must be an absolute path (got ${JSON.stringify(value)})`);
    return value;
  }

  positive(key: string): number | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) this.fail(key, "must be a positive number");
    return value;
  }
}
