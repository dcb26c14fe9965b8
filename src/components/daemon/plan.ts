// The daemon's part of the Plan (tier 4): its config file, and the service job that keeps it
// running in place of tier 2's pi in tmux (same label / unit name, so an upgrade replaces it).
import { existsSync } from "node:fs";
import type { PlanContext } from "../../core/component.ts";
import type { CommandStep, FileStep, PlanSettings, PlanStep, UninstallStep } from "../../core/plan.ts";
import { readExisting } from "../../install/fs-ops.ts";
import { processAlive } from "../../platform/process-alive.ts";
import { daemonStatusPath, readDaemonStatus } from "../../runtime/daemon/status-file.ts";
import { secretsFilePath } from "../redis/secrets.ts";
import { launchdLogDirStep, type ServiceJob, serviceJobSteps } from "../service/jobs.ts";
import { serviceArtifacts, startByHand } from "../service/plan.ts";
import { centralTmuxArgv, wrapperTmux } from "../service/wrapper.ts";
import { watchdogOn } from "../watchdog/enabled.ts";

const component = "daemon";

/** What setup writes for the daemon to read at every start; never a secret (those are in the secrets file). */
export function renderDaemonConfig(settings: PlanSettings): string {
  const daemon = settings.daemon!;
  const telegram = settings.telegram!;
  const heartbeat = watchdogOn(settings) ? settings.heartbeat! : undefined;
  const config = {
    prefix: settings.prefix,
    redisUrl: settings.redisUrl,
    secretsFile: secretsFilePath(settings.stateDir),
    agentDir: settings.agentDir,
    stateDir: settings.stateDir,
    sessionDir: daemon.sessionDir,
    ...(daemon.model ? { model: daemon.model } : {}),
    ...(heartbeat
      ? { heartbeat: { intervalSeconds: heartbeat.intervalSeconds, checklistFile: heartbeat.checklistFile, lastHeartbeatFile: heartbeat.lastHeartbeatFile } }
      : {}),
    telegram: {
      apiRoot: telegram.apiRoot,
      allow: telegram.allow,
      pairing: telegram.pairing,
      ...(telegram.notify ? { notify: telegram.notify } : {}),
    },
  };
  return JSON.stringify(config, null, 2) + "\n";
}

/** The daemon's command line: node and this package's CLI, absolute (a service has next to no PATH). */
export function daemonArgv(settings: PlanSettings): string[] {
  const daemon = settings.daemon!;
  return [daemon.nodePath, daemon.cliPath, "daemon", "--config", daemon.configPath];
}

/** The service job that runs the daemon (kept alive). */
export function daemonJob(settings: PlanSettings): ServiceJob {
  return {
    argv: daemonArgv(settings),
    title: "pi gateway daemon: pi, the event queue and Telegram",
    what: settings.service!.manager === "launchd" ? "gateway daemon (launchd)" : "gateway daemon (systemd user unit)",
  };
}

export function planDaemon(ctx: PlanContext): { steps: PlanStep[]; notes: string[] } {
  const { settings } = ctx;
  const service = settings.service!;
  const config: FileStep = {
    kind: "file",
    component,
    description: "daemon config (no secrets)",
    path: settings.daemon!.configPath,
    contents: renderDaemonConfig(settings),
    mode: 0o600,
  };
  const job = serviceJobSteps(component, ctx, daemonJob(settings));
  const notes =
    service.manager === "none" ? [`No service manager here (a container?): start the daemon yourself with: ${startByHand(daemonArgv(settings))}`] : [];
  const owner = settings.telegram!.allow[0];
  notes.push(
    owner
      ? `Send /start to @${settings.telegram!.bot?.username ?? "your bot"} once from Telegram (user ${owner}): Telegram lets a bot write only to ` +
          `users who wrote to it first.`
      : `Write to @${settings.telegram!.bot?.username ?? "your bot"} from Telegram: it answers with a pairing code; admit yourself with: ` +
          `gateway-setup pair <code>`,
  );
  return { steps: [config, ...(service.manager === "launchd" ? [launchdLogDirStep(component, ctx)] : []), ...job, ...endOlderCentralSession(settings)], notes };
}

/** An upgrade from tier 2 or 3: the central pi the older wrapper kept in tmux would hold the queue; it is ended. */
function endOlderCentralSession(settings: PlanSettings): CommandStep[] {
  const service = settings.service!;
  const olderWrapper = readExisting(service.wrapperPath)?.contents.toString("utf8");
  if (olderWrapper === undefined) return [];
  // the older wrapper names its own tmux server and session (an install from before per-agent-dir names has the shared ones)
  const target = wrapperTmux(olderWrapper, service.tmuxSession);
  return [
    {
      kind: "command",
      component,
      description: "end the central pi that tier 2 kept in tmux (the daemon takes its place)",
      argv: centralTmuxArgv(target, "kill-session", "-t", `=${target.tmuxSession}`),
      mayFail: true,
    },
  ];
}

/**
 * Uninstall where no service manager runs the daemon (it was started by hand): stop it, and wait
 * until it is gone, so what it writes as it stops is not left behind. A service manager stops it
 * when its job is unloaded.
 */
export function stopDaemonByHand(settings: PlanSettings): UninstallStep[] {
  if (settings.service?.manager !== "none") return [];
  const status = readDaemonStatus(settings.stateDir);
  if (!status || status.stoppedAt !== undefined || !processAlive(status.pid)) return [];
  const waitGone = 'kill -TERM "$1" 2>/dev/null; i=0; while kill -0 "$1" 2>/dev/null && [ "$i" -lt 150 ]; do sleep 0.1; i=$((i + 1)); done';
  return [{ kind: "run", argv: ["/bin/sh", "-c", waitGone, "stop-daemon", String(status.pid)], description: "stop the gateway daemon", mayFail: true }];
}

/** What the daemon (and an older central session) wrote as it ran: removed by uninstall. */
export function daemonArtifacts(settings: PlanSettings): string[] {
  return [daemonStatusPath(settings.stateDir), ...serviceArtifacts(settings)].filter((path) => existsSync(path));
}
