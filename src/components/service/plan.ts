// The central pi session kept alive in tmux by the service manager: the wrapper that starts it,
// its launchd agent or systemd unit, and its restart when the extension changed. Data for the Plan.
import type { PlanContext } from "../../core/component.ts";
import type { CommandStep, FileStep, PlanSettings, PlanStep } from "../../core/plan.ts";
import { readExisting } from "../../install/fs-ops.ts";
import { fileChange } from "../../plan/file-change.ts";
import { homeDir } from "../../platform/paths.ts";
import { shellQuote } from "../../platform/shell.ts";
import { planExtension } from "../extension/render.ts";
import { secretsFilePath } from "../redis/secrets.ts";
import { INSTALL_HINTS, launchdLogDirStep, requiredBinary, serviceJobSteps, servicePath } from "./jobs.ts";
import { launchdJobLabels, launchdLogFiles } from "./launchd.ts";
import { attachCommand, centralLogPath, centralTmuxArgv, renderWrapper, wrapperTmux } from "./wrapper.ts";

/** `nohup /bin/sh <wrapper> ...`: how to run the central session (or the daemon) where no service manager does */
export function startByHand(argv: string[]): string {
  return `nohup ${argv.map(shellQuote).join(" ")} >/dev/null 2>&1 &`;
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

const component = "service";

export function planService(ctx: Pick<PlanContext, "settings" | "system" | "env">): { steps: PlanStep[]; notes: string[] } {
  const { settings, system, env } = ctx;
  const service = settings.service!;
  const home = homeDir(env);
  const pi = requiredBinary(system, "pi", INSTALL_HINTS.pi);
  const tmux = requiredBinary(system, "tmux", INSTALL_HINTS.tmux);
  const path = servicePath(ctx);
  // pi gets these explicitly: a tmux server's environment is whatever its first client had
  const piEnv = { PATH: path, HOME: home, PI_CODING_AGENT_DIR: settings.agentDir, GATEWAY_ROLE: "central" };
  const wrapper: FileStep = {
    kind: "file",
    component,
    description: "central session wrapper (pi in tmux)",
    path: service.wrapperPath,
    contents: renderWrapper({
      tmux,
      session: service.tmuxSession,
      socket: service.tmuxSocket,
      workdir: home,
      piArgv: [pi],
      environment: piEnv,
      log: centralLogPath(settings.stateDir),
    }),
    mode: 0o755,
  };
  const job = serviceJobSteps(component, ctx, {
    argv: ["/bin/sh", service.wrapperPath],
    title: "pi gateway: central pi session in tmux",
    what: service.manager === "launchd" ? "central pi session (launchd)" : "central pi session (systemd user unit)",
  });
  const notes: string[] = [];
  if (service.manager === "systemd" && system.lingerOn !== true) {
    notes.push(`For the central session to run while you are logged out: loginctl enable-linger ${env.USER ?? "$USER"}`);
  }
  if (service.manager === "none") {
    notes.push(
      `No service manager here (a container?): start the central session yourself with: ${startByHand(["/bin/sh", service.wrapperPath])}` +
        ` (it keeps pi in tmux session ${service.tmuxSession} on its own tmux server; attach with: ${attachCommand(service)})`,
    );
  }
  return { steps: [wrapper, ...(service.manager === "launchd" ? [launchdLogDirStep(component, ctx)] : []), ...job], notes };
}

/** After every part planned: the restart of a running central pi that must load a changed extension, last of all. */
export function withCentralRestart(steps: PlanStep[], { settings }: Pick<PlanContext, "settings">): { steps: PlanStep[]; notes: string[] } {
  const service = settings.service!;
  const ours = steps.filter((step): step is FileStep => step.kind === "file" && step.component === component);
  const wrapper = ours.find((step) => step.path === service.wrapperPath)!;
  // systemd restarts the central unit when it changed, and its tmux server (in the unit's cgroup) with it
  const unit = ours.find((step) => step.path.endsWith(`/${service.name}.service`));
  const centralRestarts = service.manager === "systemd" && unit !== undefined && fileChange(unit.path, unit.contents, unit.mode) !== "unchanged";
  const restart = restartCentralSession(settings, wrapper, centralRestarts);
  return { steps: [...steps, ...restart.steps], notes: restart.notes };
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
  // an older wrapper may keep pi on the default tmux server, or under the names every agent dir shared
  const older = olderWrapper === undefined ? undefined : wrapperTmux(olderWrapper, service.tmuxSession);
  const elsewhere = older !== undefined && (older.tmuxSocket !== service.tmuxSocket || older.tmuxSession !== service.tmuxSession);
  const wasInstalled = changes.some((change) => change !== "new");
  const extensionChanged = changes.some((change) => change !== "unchanged");
  if (!wasInstalled || (!extensionChanged && !elsewhere)) return { steps: [], notes: [] };
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
          elsewhere ? older : service,
          "kill-session",
          "-t",
          `=${(elsewhere ? older : service).tmuxSession}`,
        )
          .map(shellQuote)
          .join(" ")}, then start it again: ${startByHand(["/bin/sh", service.wrapperPath])}`,
      ],
    };
  }
  return {
    steps: [
      ...(elsewhere
        ? [
            kill(
              older,
              older.tmuxSocket
                ? "end the central pi an older install started under other tmux names (the service starts it again under this agent dir's own)"
                : "end the central pi an older install started on your default tmux server (the service starts it again on its own server)",
            ),
          ]
        : []),
      ...(restartedAnyway ? [] : [kill(service, "restart the central pi so it loads the new extension settings (the service starts it again)")]),
    ],
    notes: [],
  };
}
