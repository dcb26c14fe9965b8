// The central pi session kept alive in tmux by the service manager, and every job that service
// manager runs for the heartbeat and the watchdog (one launchd agent or systemd unit set, one
// crontab block): HEARTBEAT.md, the heartbeat source, the tripwire. Everything here is data for the Plan.
import { dirname, join } from "node:path";
import { PlanError } from "../../core/errors.ts";
import type { CommandStep, CrontabStep, FileStep, PlanSettings, PlanStep } from "../../core/plan.ts";
import type { SystemInfo } from "../../core/system.ts";
import { readExisting } from "../../install/fs-ops.ts";
import { fileChange } from "../../plan/file-change.ts";
import type { Env } from "../../platform/exec.ts";
import { homeDir } from "../../platform/paths.ts";
import { shellQuote } from "../../platform/shell.ts";
import { startCronCommand } from "../../platform/system.ts";
import { sessionKeys } from "../../runtime/protocol/keys.ts";
import { planExtension } from "../extension/render.ts";
import { renderChecklist, renderInngestHeartbeat } from "../heartbeat/checklist.ts";
import { escapeForCron, heartbeatCommandLine, heartbeatScript } from "../heartbeat/command.ts";
import { CRON_SCHEDULERS, cronSchedule, nearestCronSchedule, nearestCronSeconds } from "../heartbeat/interval.ts";
import { secretsFilePath } from "../redis/secrets.ts";
import { renderTripwire, tripwirePaths } from "../watchdog/tripwire.ts";
import { launchAgentsDir, launchdInstallSteps, launchdJobLabels, launchdLogDir, launchdLogFiles, renderLaunchdPlist } from "./launchd.ts";
import { renderSystemdService, renderSystemdTimer, systemdInstallSteps, systemdUserDir } from "./systemd.ts";
import { attachCommand, centralLogPath, centralTmuxArgv, renderWrapper } from "./wrapper.ts";

/** Whether the heartbeat watchdogs (the extension's and the tripwire) run: not without a heartbeat source. */
export function watchdogOn(settings: PlanSettings): boolean {
  return Boolean(settings.heartbeat && settings.heartbeat.source !== "none");
}

/** What gateway-setup's crontab block runs: the heartbeat (--heartbeat cron), the tripwire (no service manager), or both. */
export function cronJobs(settings: PlanSettings): string {
  const jobs = [
    ...(settings.heartbeat?.source === "cron" ? ["the heartbeat"] : []),
    ...(settings.service?.manager === "none" && watchdogOn(settings) ? ["the tripwire"] : []),
  ];
  return jobs.join(" and ") || "the jobs";
}

/** `nohup /bin/sh <wrapper> ...`: how to run the central session where no service manager does */
export function startByHand(wrapper: string): string {
  return `nohup /bin/sh ${shellQuote(wrapper)} >/dev/null 2>&1 &`;
}

/** What the service's jobs leave behind as they run (not installed, but ours): uninstall removes them too. */
export function serviceArtifacts(settings: PlanSettings): string[] {
  const service = settings.service;
  if (!service) return [];
  const launchdLogs = service.logDir
    ? Object.values(launchdJobLabels(service.name)).flatMap((label) => Object.values(launchdLogFiles(service.logDir!, label)))
    : [];
  return [centralLogPath(settings.stateDir), ...launchdLogs];
}

function required(system: SystemInfo, binary: string, install: string): string {
  const path = system.binaries[binary];
  if (!path) throw new PlanError(`${binary} is not on PATH, and tier 2 needs it`, install);
  return path;
}

export function planService(settings: PlanSettings, system: SystemInfo, env: Env): { steps: PlanStep[]; notes: string[] } {
  const heartbeat = settings.heartbeat!;
  const service = settings.service!;
  const home = homeDir(env);
  const pi = required(system, "pi", "npm install -g @mariozechner/pi-coding-agent");
  const tmux = required(system, "tmux", system.platform === "darwin" ? "brew install tmux" : "sudo apt-get install -y tmux");
  const needsRedisCli = heartbeat.source === "cron" || heartbeat.source === "launchd" || heartbeat.source === "systemd";
  const redisCli = needsRedisCli
    ? required(system, "redis-cli", system.platform === "darwin" ? "brew install redis" : "sudo apt-get install -y redis-tools")
    : "";
  const keys = sessionKeys(settings.prefix, settings.sessionId);
  const tripwire = watchdogOn(settings) ? tripwirePaths(settings.stateDir) : undefined;
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
  // pi gets these explicitly: a tmux server's environment is whatever its first client had
  const piEnv = { PATH: servicePath, HOME: home, PI_CODING_AGENT_DIR: settings.agentDir, GATEWAY_ROLE: "central" };
  const heartbeatInput = {
    redisCli,
    redisUrl: settings.redisUrl,
    prefix: settings.prefix,
    sessionId: settings.sessionId,
    secretsFile: secretsFilePath(settings.stateDir),
  };
  const heartbeatShell = heartbeatScript({ ...heartbeatInput, source: heartbeat.source });
  const notes: string[] = [];
  const wrapper = file(
    service.wrapperPath,
    renderWrapper({ tmux, session: service.tmuxSession, workdir: home, piArgv: [pi], environment: piEnv, log: centralLogPath(settings.stateDir) }),
    0o755,
    "central session wrapper (pi in tmux)",
  );
  const steps: PlanStep[] = [
    ...(tripwire
      ? [file(heartbeat.checklistFile, renderChecklist(heartbeat.intervalSeconds), 0o644, "heartbeat checklist (yours to edit)", { createOnly: true })]
      : []),
    wrapper,
  ];
  const tripwireFile = (runEverySeconds: number) =>
    tripwire
      ? [
          file(
            tripwire.script,
            renderTripwire(settings.stateDir, heartbeat.lastHeartbeatFile, heartbeat.intervalSeconds, { runEverySeconds }),
            0o755,
            "heartbeat tripwire (watchdog layer 2)",
          ),
        ]
      : [];
  const cronEntries: CrontabStep["entries"] = [];
  /** systemd restarts the central unit when it changed, and its tmux server (in the unit's cgroup) with it */
  let centralRestarts = false;
  if (heartbeat.source === "cron") {
    cronEntries.push({
      schedule: cronSchedule(heartbeat.intervalSeconds),
      command: escapeForCron(heartbeatCommandLine({ ...heartbeatInput, source: "cron" })),
    });
  }
  if (heartbeat.source === "inngest") {
    const inngestFile = join(settings.stateDir, "inngest", "gateway-heartbeat.ts");
    steps.push(
      file(
        inngestFile,
        renderInngestHeartbeat({
          cron: cronSchedule(heartbeat.intervalSeconds, CRON_SCHEDULERS.inngest),
          redisUrl: settings.redisUrl,
          eventsKey: keys.events,
          notifyKey: keys.notify,
        }),
        0o644,
        "Inngest heartbeat function",
      ),
    );
    notes.push(`Serve ${inngestFile} from your Inngest app (see the comment at its top); gateway-setup runs no Inngest server.`);
  }

  if (service.manager === "launchd") {
    steps.push(...tripwireFile(heartbeat.intervalSeconds));
    const logDir = service.logDir ?? launchdLogDir(home);
    // before any job is loaded: launchd does not create the folder of a job's log files
    steps.push({ kind: "dir", component, description: "launchd log folder", path: logDir });
    const agents = launchAgentsDir(home);
    const labels = launchdJobLabels(service.name);
    const jobs = [
      { label: labels.central, programArguments: ["/bin/sh", service.wrapperPath], keepAlive: true, what: "central pi session (launchd)" },
      ...(heartbeat.source === "launchd"
        ? [
            {
              label: labels.heartbeat,
              programArguments: ["/bin/sh", "-c", heartbeatShell],
              startInterval: heartbeat.intervalSeconds,
              what: "heartbeat (launchd StartInterval)",
            },
          ]
        : []),
      ...(tripwire
        ? [
            {
              label: labels.tripwire,
              programArguments: ["/bin/sh", tripwire.script],
              startInterval: heartbeat.intervalSeconds,
              what: "tripwire schedule (launchd)",
            },
          ]
        : []),
    ];
    for (const job of jobs) {
      const plistPath = join(agents, `${job.label}.plist`);
      const contents = renderLaunchdPlist({
        label: job.label,
        programArguments: job.programArguments,
        environment: serviceEnv,
        workingDirectory: home,
        logDir,
        ...(job.keepAlive ? { keepAlive: true } : {}),
        ...(job.startInterval ? { startInterval: job.startInterval } : {}),
      });
      steps.push(...launchdInstallSteps(component, system.uid, job.label, file(plistPath, contents, 0o644, job.what)));
    }
  } else if (service.manager === "systemd") {
    steps.push(...tripwireFile(heartbeat.intervalSeconds));
    const dir = systemdUserDir(home, env);
    /** a oneshot unit for `job` and the timer that runs it every heartbeat interval */
    const periodicUnits = (job: string, description: string, execStart: string[], what: string) => [
      {
        name: `${service.name}-${job}.service`,
        contents: renderSystemdService({ description, execStart, environment: serviceEnv, workingDirectory: home, type: "oneshot" }),
        what,
      },
      {
        name: `${service.name}-${job}.timer`,
        contents: renderSystemdTimer(`${description} timer`, `${service.name}-${job}.service`, heartbeat.intervalSeconds),
        what: `${job} timer (systemd)`,
      },
    ];
    const units: { name: string; contents: string; what: string }[] = [
      {
        name: `${service.name}.service`,
        contents: renderSystemdService({
          description: "pi gateway: central pi session in tmux",
          execStart: ["/bin/sh", service.wrapperPath],
          environment: serviceEnv,
          workingDirectory: home,
          type: "simple",
        }),
        what: "central pi session (systemd user unit)",
      },
      ...(heartbeat.source === "systemd"
        ? periodicUnits("heartbeat", "pi gateway heartbeat", ["/bin/sh", "-c", heartbeatShell], "heartbeat push (systemd)")
        : []),
      ...(tripwire ? periodicUnits("tripwire", "pi gateway tripwire", ["/bin/sh", tripwire.script], "tripwire (systemd)") : []),
    ];
    const unitFiles = units.map((unit) => file(join(dir, unit.name), unit.contents, 0o644, unit.what));
    centralRestarts = fileChange(unitFiles[0]!.path, unitFiles[0]!.contents, unitFiles[0]!.mode) !== "unchanged";
    steps.push(
      ...systemdInstallSteps(
        component,
        unitFiles,
        units.map((u) => u.name).filter((n) => n.endsWith(".timer") || n === `${service.name}.service`),
      ),
    );
    if (system.lingerOn !== true) notes.push(`For the central session to run while you are logged out: loginctl enable-linger ${env.USER ?? "$USER"}`);
  } else {
    steps.push(...tripwireFile(nearestCronSeconds(heartbeat.intervalSeconds)));
    if (tripwire)
      cronEntries.push({ schedule: nearestCronSchedule(heartbeat.intervalSeconds), command: escapeForCron(`/bin/sh ${shellQuote(tripwire.script)}`) });
    notes.push(
      `No service manager here (a container?): start the central session yourself with: ${startByHand(service.wrapperPath)}` +
        ` (it keeps pi in tmux session ${service.tmuxSession} on its own tmux server; attach with: ${attachCommand(service)})`,
    );
  }
  if (cronEntries.length) {
    required(system, "crontab", system.platform === "darwin" ? "crontab ships with macOS" : "sudo apt-get install -y cron");
    steps.push({ kind: "crontab", component: "heartbeat", description: "gateway-setup's block in your crontab", entries: cronEntries });
    if (system.cronRunning === false) {
      notes.push(
        `No cron daemon is running here (a container?): ${cronJobs(settings)} in your crontab will not run until one is. ` +
          `Start it with: ${startCronCommand(system.isRoot)} (the daemon is crond on Fedora or Alpine); a container needs it started each time it starts.`,
      );
    }
  }
  const restart = restartCentralSession(settings, wrapper, centralRestarts);
  steps.push(...restart.steps);
  notes.push(...restart.notes);
  return { steps, notes };
}

/**
 * A central pi that runs already keeps the extension settings it started with, and the wrapper
 * leaves a live session alone. When this run changes the extension, the session is ended after
 * everything else is in place, and the service manager starts it again with the new settings.
 * A session that an older wrapper started on the user's default tmux server is ended there too.
 */
function restartCentralSession(settings: PlanSettings, wrapper: FileStep, restartedAnyway: boolean): { steps: CommandStep[]; notes: string[] } {
  const service = settings.service!;
  const extensionFiles = planExtension({ settings, secretsFile: settings.redisPasswordSet ? secretsFilePath(settings.stateDir) : undefined }).filter(
    (step): step is FileStep => step.kind === "file",
  );
  const changes = extensionFiles.map((step) => fileChange(step.path, step.contents, step.mode));
  const olderWrapper = readExisting(wrapper.path)?.contents.toString("utf8");
  const onDefaultServer = olderWrapper !== undefined && !olderWrapper.includes(` -L `);
  const wasInstalled = changes.some((change) => change !== "new");
  const extensionChanged = changes.some((change) => change !== "unchanged");
  if (!wasInstalled || (!extensionChanged && !onDefaultServer)) return { steps: [], notes: [] };
  const kill = (target: { tmuxSession: string; tmuxSocket?: string }, description: string): CommandStep => ({
    kind: "command",
    component: "service",
    description,
    argv: centralTmuxArgv(target, "kill-session", "-t", `=${target.tmuxSession}`),
    mayFail: true,
  });
  if (service.manager === "none") {
    return {
      steps: [],
      notes: [
        `A central pi that is already running keeps its old settings: end it with ${centralTmuxArgv(
          { ...service, ...(onDefaultServer ? { tmuxSocket: undefined } : {}) },
          "kill-session",
          "-t",
          `=${service.tmuxSession}`,
        )
          .map(shellQuote)
          .join(" ")}, then start it again: ${startByHand(service.wrapperPath)}`,
      ],
    };
  }
  return {
    steps: [
      ...(onDefaultServer
        ? [
            kill(
              { tmuxSession: service.tmuxSession },
              "end the central pi an older install started on your default tmux server (the service starts it again on its own server)",
            ),
          ]
        : []),
      ...(restartedAnyway ? [] : [kill(service, "restart the central pi so it loads the new extension settings (the service starts it again)")]),
    ],
    notes: [],
  };
}
