// Answers + this machine -> the install's settings (PlanSettings), validated: paths, the session id,
// the heartbeat source and the service manager each part plans with.
import { join, resolve } from "node:path";
import { CRON_SCHEDULERS, cronSchedule, type IntervalError, parseInterval } from "../components/heartbeat/interval.ts";
import { launchdLogDir } from "../components/service/launchd.ts";
import { DEFAULT_TMUX_SESSION, TMUX_SOCKET, wrapperPath } from "../components/service/wrapper.ts";
import { type Answers, DEFAULT_HEARTBEAT_EVERY, DEFAULT_SERVICE_LABEL, HEARTBEAT_SOURCES, type HeartbeatSource, tierShape } from "../core/answers.ts";
import { PlanError } from "../core/errors.ts";
import type { PlanSettings } from "../core/plan.ts";
import type { RedisTarget } from "../core/redis.ts";
import type { SystemInfo } from "../core/system.ts";
import { sha256 } from "../install/fs-ops.ts";
import type { Env } from "../platform/exec.ts";
import { PACKAGE_ROOT } from "../platform/package-root.ts";
import { agentDir, extensionDir, gatewayStateDir, homeDir, MANIFEST_FILE_NAME } from "../platform/paths.ts";
import { DAEMON_CONFIG_FILE } from "../runtime/daemon/daemon-file.ts";
// api.ts, not the folder's index: that one brings grammY, which planning does not need
import { DEFAULT_API_ROOT, normaliseApiRoot } from "../runtime/daemon/telegram/api.ts";
import { TIER1_SESSION_ID } from "../runtime/extension/config.ts";
import { CENTRAL_SESSION } from "../runtime/protocol/route.ts";
import { validateAnswers } from "./validate.ts";

type ServiceManager = SystemInfo["serviceManager"];

export function planSettings(answers: Answers, target: RedisTarget, system: SystemInfo, env: Env): PlanSettings {
  validateAnswers(answers, system, env);
  const stateDir = gatewayStateDir(env);
  const { central, mode, daemon } = tierShape(answers.tier);
  return {
    tier: answers.tier,
    mode,
    sessionId: central ? CENTRAL_SESSION : TIER1_SESSION_ID,
    prefix: answers.prefix,
    redisUrl: target.url,
    redisPasswordSet: Boolean(target.password),
    scope: answers.scope,
    agentDir: agentDir(env),
    extensionDir: extensionDir(answers.scope, answers.projectDir, env),
    stateDir,
    manifestPath: join(stateDir, MANIFEST_FILE_NAME),
    ...(central ? tier2Settings(answers, system, env, agentDir(env), stateDir) : {}),
    ...(daemon ? tier4Settings(answers, system, agentDir(env), stateDir) : {}),
  };
}

/** The daemon and the bot, validated: a bot open to everyone is never installed. */
export function tier4Settings(answers: Answers, system: SystemInfo, agentDir: string, stateDir: string): Pick<PlanSettings, "daemon" | "telegram"> {
  const allow = answers.telegramAllow ?? [];
  const pairing = answers.telegramPairing ?? allow.length === 0;
  if (!allow.length && !pairing) {
    throw new PlanError(
      "the bot would answer nobody: no --telegram-allow ids and pairing off (a bot open to everyone is never installed)",
      "give your Telegram user id with --telegram-allow <id>, or turn pairing on with --telegram-pairing on",
    );
  }
  return {
    daemon: {
      configPath: join(stateDir, DAEMON_CONFIG_FILE),
      nodePath: system.binaries.node ?? process.execPath,
      cliPath: join(PACKAGE_ROOT, "bin", "gateway-setup.js"),
      ...(answers.model ? { model: answers.model } : {}),
      sessionDir: join(agentDir, "gateway-daemon", "sessions"),
    },
    telegram: {
      apiRoot: normaliseApiRoot(answers.telegramApiRoot ?? DEFAULT_API_ROOT),
      allow,
      pairing,
      ...(answers.telegramNotify?.length ? { notify: answers.telegramNotify } : {}),
      ...(answers.telegramBot ? { bot: answers.telegramBot } : {}),
    },
  };
}

/** The heartbeat source that goes with a service manager: its own scheduler, else cron. */
export function defaultHeartbeatSource(system: SystemInfo, manager: ServiceManager = system.serviceManager): HeartbeatSource {
  return manager === "launchd" || manager === "systemd" ? manager : "cron";
}

/** The wizard's default heartbeat source and the ones it offers, for the service manager the user chose (--service) or this machine's. */
export function heartbeatChoices(system: SystemInfo, service?: Answers["service"]): { heartbeat: HeartbeatSource; heartbeats: HeartbeatSource[] } {
  const manager = service ?? system.serviceManager;
  return {
    heartbeat: defaultHeartbeatSource(system, manager),
    heartbeats: HEARTBEAT_SOURCES.filter((source) => (source === "launchd" || source === "systemd" ? manager === source : true)),
  };
}

/**
 * What tells an install's names apart from another agent dir's: nothing for the default ~/.pi/agent
 * (its names stay as they always were), else the first 8 hex digits of the agent dir's SHA-256.
 */
export function agentDirTag(agentDir: string, env: Env): string | undefined {
  const dir = resolve(agentDir);
  return dir === resolve(homeDir(env), ".pi", "agent") ? undefined : sha256(dir).slice(0, 8);
}

/** The tier-2 parts of the settings, validated against this machine. */
export function tier2Settings(
  answers: Answers,
  system: SystemInfo,
  env: Env,
  agentDir: string,
  stateDir: string,
): Pick<PlanSettings, "heartbeat" | "service" | "crontabBlock"> {
  let intervalSeconds: number;
  try {
    intervalSeconds = parseInterval(answers.heartbeatEvery ?? DEFAULT_HEARTBEAT_EVERY);
  } catch (error) {
    throw new PlanError((error as IntervalError).message);
  }
  const manager = answers.service ?? system.serviceManager;
  const source = answers.heartbeat ?? defaultHeartbeatSource(system, manager);
  if (source === "launchd" && manager !== "launchd")
    throw new PlanError("--heartbeat launchd needs macOS's launchd", "use --heartbeat cron (or systemd on Linux)");
  if (source === "systemd" && manager !== "systemd") {
    throw new PlanError("--heartbeat systemd needs a systemd user manager (systemctl --user), which this machine does not have", "use --heartbeat cron");
  }
  // a cron schedule (cron's own or an Inngest cron trigger) that only approximates the interval
  // would leave gaps longer than the watchdogs expect: they would alarm between heartbeats
  if (source === "cron" || source === "inngest") {
    try {
      cronSchedule(intervalSeconds, CRON_SCHEDULERS[source]);
    } catch (error) {
      throw new PlanError((error as Error).message);
    }
  }
  // two agent dirs must not share a crontab block, a tmux server and session, or a service
  const tag = agentDirTag(agentDir, env);
  const tmux = tag ? `${DEFAULT_TMUX_SESSION}-${tag}` : DEFAULT_TMUX_SESSION;
  return {
    ...(tag ? { crontabBlock: tag } : {}),
    heartbeat: {
      source,
      intervalSeconds,
      checklistFile: answers.heartbeatFile ?? join(agentDir, "HEARTBEAT.md"),
      lastHeartbeatFile: join(stateDir, "last-heartbeat.json"),
    },
    service: {
      manager,
      name: answers.serviceLabel ?? (tag ? `${DEFAULT_SERVICE_LABEL}.${tag}` : DEFAULT_SERVICE_LABEL),
      tmuxSession: tmux,
      tmuxSocket: tag ? tmux : TMUX_SOCKET,
      wrapperPath: wrapperPath(stateDir),
      ...(manager === "launchd" ? { logDir: launchdLogDir(homeDir(env)) } : {}),
    },
  };
}
