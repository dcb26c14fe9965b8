// Tier 2: the central pi session kept alive in tmux by the service manager, a heartbeat source,
// HEARTBEAT.md, and the independent tripwire. Everything here is data for the Plan.
import { dirname, join } from "node:path";
import { renderChecklist, renderInngestHeartbeat } from "../components/heartbeat/checklist.ts";
import { heartbeatCommandLine, escapeForCron, heartbeatScript } from "../components/heartbeat/command.ts";
import { cronSchedule, IntervalError, nearestCronSchedule, parseInterval } from "../components/heartbeat/interval.ts";
import { launchAgentsDir, launchdLoadSteps, renderLaunchdPlist } from "../components/service/launchd.ts";
import { renderSystemdService, renderSystemdTimer, systemdLoadSteps, systemdUserDir } from "../components/service/systemd.ts";
import { DEFAULT_TMUX_SESSION, renderWrapper, wrapperPath } from "../components/service/wrapper.ts";
import { renderTripwire, tripwirePaths } from "../components/watchdog/tripwire.ts";
import { secretsFilePath } from "../components/redis/secrets.ts";
import type { Env } from "../platform/exec.ts";
import { homeDir } from "../platform/paths.ts";
import type { SystemInfo } from "../platform/system.ts";
import { sessionKeys } from "../protocol/keys.ts";
import { DEFAULT_HEARTBEAT_EVERY, DEFAULT_SERVICE_LABEL, type Answers, type HeartbeatSource } from "../wizard/answers.ts";
import { fileChange } from "./describe.ts";
import type { CrontabStep, FileStep, PlanSettings, PlanStep } from "./plan.ts";
import { PlanError } from "./plan-error.ts";


/** Files the running system writes for itself (not installed, but ours): uninstall removes them too. */
export function runtimeArtifacts(settings: PlanSettings): string[] {
  if (!settings.heartbeat) return [];
  const tripwire = tripwirePaths(settings.stateDir);
  return [settings.heartbeat.lastHeartbeatFile, tripwire.alertedMarker, tripwire.log];
}

export function defaultHeartbeatSource(system: SystemInfo): HeartbeatSource {
  return system.serviceManager === "launchd" ? "launchd" : system.serviceManager === "systemd" ? "systemd" : "cron";
}

/** The tier-2 parts of the settings, validated against this machine. */
export function tier2Settings(answers: Answers, system: SystemInfo, agentDir: string, stateDir: string): Pick<PlanSettings, "heartbeat" | "service"> {
  let intervalSeconds: number;
  try {
    intervalSeconds = parseInterval(answers.heartbeatEvery ?? DEFAULT_HEARTBEAT_EVERY);
  } catch (error) {
    throw new PlanError((error as IntervalError).message);
  }
  const source = answers.heartbeat ?? defaultHeartbeatSource(system);
  const manager = answers.service ?? system.serviceManager;
  if (source === "launchd" && manager !== "launchd") throw new PlanError("--heartbeat launchd needs macOS's launchd", "use --heartbeat cron (or systemd on Linux)");
  if (source === "systemd" && manager !== "systemd") {
    throw new PlanError("--heartbeat systemd needs a systemd user manager (systemctl --user), which this machine does not have", "use --heartbeat cron");
  }
  if (source === "cron") {
    try {
      cronSchedule(intervalSeconds);
    } catch (error) {
      throw new PlanError((error as Error).message);
    }
  }
  return {
    heartbeat: {
      source,
      intervalSeconds,
      checklistFile: answers.heartbeatFile ?? join(agentDir, "HEARTBEAT.md"),
      lastHeartbeatFile: join(stateDir, "last-heartbeat.json"),
    },
    service: { manager, name: answers.serviceLabel ?? DEFAULT_SERVICE_LABEL, tmuxSession: DEFAULT_TMUX_SESSION, wrapperPath: wrapperPath(stateDir) },
  };
}

function required(system: SystemInfo, binary: string, install: string): string {
  const path = system.binaries[binary];
  if (!path) throw new PlanError(`${binary} is not on PATH, and tier 2 needs it`, install);
  return path;
}

export function planTier2(settings: PlanSettings, system: SystemInfo, env: Env): { steps: PlanStep[]; notes: string[] } {
  const heartbeat = settings.heartbeat!;
  const service = settings.service!;
  const home = homeDir(env);
  const pi = required(system, "pi", "npm install -g @mariozechner/pi-coding-agent");
  const tmux = required(system, "tmux", system.platform === "darwin" ? "brew install tmux" : "sudo apt-get install -y tmux");
  const needsRedisCli = heartbeat.source === "cron" || heartbeat.source === "launchd" || heartbeat.source === "systemd";
  const redisCli = needsRedisCli ? required(system, "redis-cli", system.platform === "darwin" ? "brew install redis" : "sudo apt-get install -y redis-tools") : "";
  const keys = sessionKeys(settings.prefix, settings.sessionId);
  const tripwire = tripwirePaths(settings.stateDir);
  const component = "service";
  const file = (path: string, contents: string, mode: number, description: string, extra: Partial<FileStep> = {}): FileStep => ({
    kind: "file",
    component,
    description,
    path,
    contents,
    mode,
    ...extra,
  });

  const pathDirs = [...new Set([pi, system.binaries.node, tmux, redisCli].filter(Boolean).map((p) => dirname(p!)))];
  const servicePath = [...pathDirs, "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"].filter((d, i, all) => all.indexOf(d) === i).join(":");
  const serviceEnv: Record<string, string> = {
    PATH: servicePath,
    HOME: home,
    GATEWAY_ROLE: "central",
    ...(env.PI_CODING_AGENT_DIR ? { PI_CODING_AGENT_DIR: settings.agentDir } : {}),
  };
  const heartbeatShell = heartbeatScript({ redisCli, redisUrl: settings.redisUrl, prefix: settings.prefix, sessionId: settings.sessionId, secretsFile: secretsFilePath(settings.stateDir), source: heartbeat.source });
  const notes: string[] = [];
  const steps: PlanStep[] = [
    file(heartbeat.checklistFile, renderChecklist(heartbeat.intervalSeconds), 0o644, "heartbeat checklist (yours to edit)", { createOnly: true }),
    file(service.wrapperPath, renderWrapper({ tmux, session: service.tmuxSession, workdir: home, piArgv: [pi] }), 0o755, "central session wrapper (pi in tmux)"),
    file(tripwire.script, renderTripwire(settings.stateDir, heartbeat.lastHeartbeatFile, heartbeat.intervalSeconds), 0o755, "heartbeat tripwire (watchdog layer 2)"),
  ];
  const cronEntries: CrontabStep["entries"] = [];
  if (heartbeat.source === "cron") {
    cronEntries.push({ schedule: cronSchedule(heartbeat.intervalSeconds), command: escapeForCron(heartbeatCommandLine({ redisCli, redisUrl: settings.redisUrl, prefix: settings.prefix, sessionId: settings.sessionId, secretsFile: secretsFilePath(settings.stateDir), source: "cron" })) });
  }
  if (heartbeat.source === "inngest") {
    const inngestFile = join(settings.stateDir, "inngest", "gateway-heartbeat.ts");
    steps.push(file(inngestFile, renderInngestHeartbeat({ cron: nearestCronSchedule(heartbeat.intervalSeconds), redisUrl: settings.redisUrl, eventsKey: keys.events, notifyKey: keys.notify }), 0o644, "Inngest heartbeat function"));
    notes.push(`Serve ${inngestFile} from your Inngest app (see the comment at its top); gateway-setup runs no Inngest server.`);
  }

  if (service.manager === "launchd") {
    const logDir = join(home, "Library", "Logs", "pi-gateway");
    const agents = launchAgentsDir(home);
    const jobs = [
      { label: service.name, programArguments: ["/bin/sh", service.wrapperPath], keepAlive: true, what: "central pi session (launchd)" },
      ...(heartbeat.source === "launchd" ? [{ label: `${service.name}.heartbeat`, programArguments: ["/bin/sh", "-c", heartbeatShell], startInterval: heartbeat.intervalSeconds, what: "heartbeat (launchd StartInterval)" }] : []),
      { label: `${service.name}.tripwire`, programArguments: ["/bin/sh", tripwire.script], startInterval: heartbeat.intervalSeconds, what: "tripwire schedule (launchd)" },
    ];
    for (const job of jobs) {
      const plistPath = join(agents, `${job.label}.plist`);
      const contents = renderLaunchdPlist({ label: job.label, programArguments: job.programArguments, environment: serviceEnv, workingDirectory: home, logDir, ...(job.keepAlive ? { keepAlive: true } : {}), ...(job.startInterval ? { startInterval: job.startInterval } : {}) });
      steps.push(file(plistPath, contents, 0o644, job.what));
      steps.push(...launchdLoadSteps(component, system.uid, job.label, plistPath, fileChange(plistPath, contents, 0o644) === "unchanged"));
    }
    steps.push({ kind: "dir", component, description: "launchd log folder", path: logDir });
  } else if (service.manager === "systemd") {
    const dir = systemdUserDir(home, env);
    const units: { name: string; contents: string; what: string }[] = [
      { name: `${service.name}.service`, contents: renderSystemdService({ description: "pi gateway: central pi session in tmux", execStart: ["/bin/sh", service.wrapperPath], environment: serviceEnv, workingDirectory: home, type: "simple" }), what: "central pi session (systemd user unit)" },
      ...(heartbeat.source === "systemd"
        ? [
            { name: `${service.name}-heartbeat.service`, contents: renderSystemdService({ description: "pi gateway heartbeat", execStart: ["/bin/sh", "-c", heartbeatShell], environment: serviceEnv, workingDirectory: home, type: "oneshot" }), what: "heartbeat push (systemd)" },
            { name: `${service.name}-heartbeat.timer`, contents: renderSystemdTimer("pi gateway heartbeat timer", `${service.name}-heartbeat.service`, heartbeat.intervalSeconds), what: "heartbeat timer (systemd)" },
          ]
        : []),
      { name: `${service.name}-tripwire.service`, contents: renderSystemdService({ description: "pi gateway tripwire", execStart: ["/bin/sh", tripwire.script], environment: serviceEnv, workingDirectory: home, type: "oneshot" }), what: "tripwire (systemd)" },
      { name: `${service.name}-tripwire.timer`, contents: renderSystemdTimer("pi gateway tripwire timer", `${service.name}-tripwire.service`, heartbeat.intervalSeconds), what: "tripwire timer (systemd)" },
    ];
    const unchanged = units.every((unit) => fileChange(join(dir, unit.name), unit.contents, 0o644) === "unchanged");
    steps.push(...units.map((unit) => file(join(dir, unit.name), unit.contents, 0o644, unit.what)));
    steps.push(...systemdLoadSteps(component, units.map((u) => u.name).filter((n) => n.endsWith(".timer") || n === `${service.name}.service`), unchanged));
    notes.push(`For the central session to run while you are logged out: loginctl enable-linger ${env.USER ?? "$USER"}`);
  } else {
    cronEntries.push({ schedule: nearestCronSchedule(heartbeat.intervalSeconds), command: escapeForCron(`/bin/sh ${tripwire.script}`) });
    notes.push(
      `No service manager here (a container?): start the central session yourself with: nohup /bin/sh ${service.wrapperPath} >/dev/null 2>&1 &` +
        ` (it keeps pi in tmux session ${service.tmuxSession}; attach with: tmux attach -t ${service.tmuxSession})`,
    );
  }
  if (cronEntries.length) {
    required(system, "crontab", system.platform === "darwin" ? "crontab ships with macOS" : "sudo apt-get install -y cron");
    steps.push({ kind: "crontab", component: "heartbeat", description: "gateway-setup's block in your crontab", entries: cronEntries });
  }
  return { steps, notes };
}

