// The jobs the service manager runs, as plan steps: the central session (kept alive) and the
// periodic jobs of the heartbeat and the watchdog (a launchd StartInterval, a systemd timer). Each
// component plans its own jobs with these; they share one environment, so every job finds the same
// binaries. Where no service manager runs, a periodic job is a crontab line instead (the caller's).
import { dirname, join } from "node:path";
import type { PlanContext } from "../../core/component.ts";
import { PlanError } from "../../core/errors.ts";
import type { FileStep, PlanSettings, PlanStep, UninstallStep } from "../../core/plan.ts";
import type { SystemInfo } from "../../core/system.ts";
import { homeDir } from "../../platform/paths.ts";
import { launchAgentsDir, launchdInstallSteps, launchdJobLabels, launchdLogDir, renderLaunchdPlist } from "./launchd.ts";
import { renderSystemdService, renderSystemdTimer, systemdInstallSteps, systemdUserDir } from "./systemd.ts";

type JobContext = Pick<PlanContext, "settings" | "system" | "env">;

/** A binary the jobs need: its absolute path, or a PlanError that says how to install it. */
export function requiredBinary(system: SystemInfo, binary: string, install: { darwin: string; linux: string }): string {
  const path = system.binaries[binary];
  if (!path) throw new PlanError(`${binary} is not on PATH, and this install needs it`, system.platform === "darwin" ? install.darwin : install.linux);
  return path;
}

export const INSTALL_HINTS = {
  pi: { darwin: "npm install -g @mariozechner/pi-coding-agent", linux: "npm install -g @mariozechner/pi-coding-agent" },
  tmux: { darwin: "brew install tmux", linux: "sudo apt-get install -y tmux" },
  "redis-cli": { darwin: "brew install redis", linux: "sudo apt-get install -y redis-tools" },
  crontab: { darwin: "crontab ships with macOS", linux: "sudo apt-get install -y cron" },
};

/** The heartbeat sources that run redis-cli from a job. */
export function heartbeatRunsRedisCli(settings: PlanSettings): boolean {
  const source = settings.heartbeat?.source;
  return source === "cron" || source === "launchd" || source === "systemd";
}

/** PATH for every job: the folders of pi, node, tmux (pi in tmux is the central session below tier 4) and redis-cli first, then the system's. */
export function servicePath({ settings, system }: JobContext): string {
  const piInTmux = !settings.daemon;
  const binaries = [
    piInTmux ? requiredBinary(system, "pi", INSTALL_HINTS.pi) : undefined,
    system.binaries.node,
    piInTmux ? requiredBinary(system, "tmux", INSTALL_HINTS.tmux) : undefined,
    heartbeatRunsRedisCli(settings) ? requiredBinary(system, "redis-cli", INSTALL_HINTS["redis-cli"]) : undefined,
  ];
  const dirs = [
    ...binaries.filter((path): path is string => Boolean(path)).map((path) => dirname(path)),
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/usr/sbin",
    "/sbin",
  ];
  return dirs.filter((dir, i) => dirs.indexOf(dir) === i).join(":");
}

/** What every job runs with (launchd and systemd start jobs with next to nothing). */
export function serviceEnvironment(ctx: JobContext): Record<string, string> {
  return {
    PATH: servicePath(ctx),
    HOME: homeDir(ctx.env),
    GATEWAY_ROLE: "central",
    ...(ctx.env.PI_CODING_AGENT_DIR ? { PI_CODING_AGENT_DIR: ctx.settings.agentDir } : {}),
  };
}

export interface ServiceJob {
  /** absent: the central job (label / unit = the service name); else `<name>.<job>` / `<name>-<job>` */
  job?: "heartbeat" | "tripwire";
  argv: string[];
  /** a periodic job, run every this many seconds; else it is kept alive */
  everySeconds?: number;
  /** systemd's Description */
  title: string;
  /** the plist's or unit's step description */
  what: string;
}

function jobFile(component: string, path: string, contents: string, what: string): FileStep {
  return { kind: "file", component, description: what, path, contents, mode: 0o644 };
}

/** After uninstall removed unit files: systemd's unit list is only as before after a reload. */
export function forgetRemovedUnits(settings: PlanSettings): UninstallStep[] {
  if (settings.service?.manager !== "systemd") return [];
  return [
    {
      kind: "run",
      argv: ["systemctl", "--user", "daemon-reload"],
      description: "make systemd forget the removed units",
      mayFail: true,
      undoArgv: ["systemctl", "--user", "daemon-reload"],
    },
  ];
}

/** launchd: before any job is loaded, its log folder (launchd does not create it). */
export function launchdLogDirStep(component: string, ctx: JobContext): PlanStep {
  return { kind: "dir", component, description: "launchd log folder", path: ctx.settings.service!.logDir ?? launchdLogDir(homeDir(ctx.env)) };
}

/** The job's plist or unit files and the commands that load them; nothing where no service manager runs. */
export function serviceJobSteps(component: string, ctx: JobContext, job: ServiceJob): PlanStep[] {
  const service = ctx.settings.service!;
  const home = homeDir(ctx.env);
  const environment = serviceEnvironment(ctx);
  if (service.manager === "launchd") {
    const labels = launchdJobLabels(service.name);
    const label = job.job ? labels[job.job] : labels.central;
    const contents = renderLaunchdPlist({
      label,
      programArguments: job.argv,
      environment,
      workingDirectory: home,
      logDir: service.logDir ?? launchdLogDir(home),
      ...(job.everySeconds ? { startInterval: job.everySeconds } : { keepAlive: true }),
    });
    return launchdInstallSteps(component, ctx.system.uid, label, jobFile(component, join(launchAgentsDir(home), `${label}.plist`), contents, job.what));
  }
  if (service.manager === "systemd") {
    const dir = systemdUserDir(home, ctx.env);
    const unit = job.job ? `${service.name}-${job.job}` : service.name;
    const type = job.everySeconds ? "oneshot" : "simple";
    const files = [
      jobFile(
        component,
        join(dir, `${unit}.service`),
        renderSystemdService({ description: job.title, execStart: job.argv, environment, workingDirectory: home, type }),
        job.what,
      ),
      ...(job.everySeconds
        ? [
            jobFile(
              component,
              join(dir, `${unit}.timer`),
              renderSystemdTimer(`${job.title} timer`, `${unit}.service`, job.everySeconds),
              `${job.job} timer (systemd)`,
            ),
          ]
        : []),
    ];
    return systemdInstallSteps(component, files, [job.everySeconds ? `${unit}.timer` : `${unit}.service`]);
  }
  return [];
}
