// Doctor checks for the central session: the service runs and pi lives in its tmux session; and how
// to tell whether a scheduled job the service manager runs (heartbeat, tripwire) is loaded.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DoctorCheck } from "../../core/check.ts";
import { fail, ok, skip, warn } from "../../core/finding.ts";
import type { Manifest } from "../../core/manifest.ts";
import { CommandNotFoundError, type Env, type RunResult, run } from "../../platform/exec.ts";
import { homeDir } from "../../platform/paths.ts";
import { shellQuote } from "../../platform/shell.ts";
import { lingerEnabled } from "../../platform/system.ts";
import { daemonArgv } from "../daemon/plan.ts";
import { watchdogOn } from "../watchdog/enabled.ts";
import { launchAgentsDir, launchdJobLabels } from "./launchd.ts";
import { startByHand } from "./plan.ts";
import { attachCommand, centralLogPath, centralTmuxArgv } from "./wrapper.ts";

type Service = NonNullable<Manifest["settings"]["service"]>;

const uid = () => process.getuid?.() ?? 0;

async function runQuietly(argv: string[], env: Env): Promise<RunResult | undefined> {
  try {
    const [binary, ...args] = argv as [string, ...string[]];
    return await run(binary, args, { env, timeoutMs: 10_000 });
  } catch (error) {
    if (error instanceof CommandNotFoundError) return undefined;
    throw error;
  }
}

const succeeds = async (argv: string[], env: Env) => (await runQuietly(argv, env))?.code === 0;

/** The launchd label or systemd timer of each scheduled job this install has. */
export function scheduledJobs(manifest: Manifest): { heartbeat?: string; tripwire?: string } {
  const service = manifest.settings.service!;
  if (service.manager === "none") return {};
  const { heartbeat, tripwire } =
    service.manager === "launchd"
      ? launchdJobLabels(service.name)
      : { heartbeat: `${service.name}-heartbeat.timer`, tripwire: `${service.name}-tripwire.timer` };
  return {
    ...(manifest.settings.heartbeat?.source === service.manager ? { heartbeat } : {}),
    ...(watchdogOn(manifest.settings) ? { tripwire } : {}),
  };
}

/** A periodic job is fine while loaded (launchd) or while its timer is active (systemd). */
export function scheduledJobLoaded(service: Service, job: string, env: Env): Promise<boolean> {
  return service.manager === "launchd"
    ? succeeds(["launchctl", "print", `gui/${uid()}/${job}`], env)
    : succeeds(["systemctl", "--user", "is-active", "--quiet", job], env);
}

export function loadFix(service: Service, job: string, env: Env): string {
  return service.manager === "launchd"
    ? `launchctl bootstrap gui/${uid()} ${shellQuote(join(launchAgentsDir(homeDir(env)), `${job}.plist`))}`
    : `systemctl --user enable --now ${job}`;
}

/** launchd: loaded and `state = running`; systemd: active. */
export async function centralJobState(service: Service, env: Env): Promise<{ running: boolean; why: string; fix: string }> {
  if (service.manager === "systemd") {
    const running = await succeeds(["systemctl", "--user", "is-active", "--quiet", `${service.name}.service`], env);
    return { running, why: `systemd does not run ${service.name}.service`, fix: `systemctl --user enable --now ${service.name}.service` };
  }
  const printed = await runQuietly(["launchctl", "print", `gui/${uid()}/${service.name}`], env);
  if (printed?.code !== 0) return { running: false, why: `launchd has not loaded ${service.name}`, fix: loadFix(service, service.name, env) };
  const state = /^\s*state = (.+)$/m.exec(printed.stdout)?.[1]?.trim();
  return {
    running: state === "running",
    why: `launchd has ${service.name} loaded but not running (state = ${state ?? "unknown"})`,
    fix: `launchctl kickstart -k gui/${uid()}/${service.name}`,
  };
}

export const serviceCheck: DoctorCheck = {
  id: "service",
  async run({ manifest, env }) {
    const service = manifest.settings.service;
    if (!service) return skip("service", "no service in this install");
    if (service.manager === "none") {
      return warn(
        "service",
        "no service manager keeps the central session alive on this machine",
        `start it yourself: ${startByHand(["/bin/sh", service.wrapperPath])}`,
      );
    }
    const central = await centralJobState(service, env);
    if (!central.running) return fail("service", central.why, central.fix);
    const { heartbeat } = scheduledJobs(manifest);
    if (heartbeat && !(await scheduledJobLoaded(service, heartbeat, env))) {
      return fail(
        "service",
        `${service.manager} runs ${service.name}, but the heartbeat schedule ${heartbeat} is not loaded: no heartbeats are sent`,
        loadFix(service, heartbeat, env),
      );
    }
    if (service.manager === "systemd" && lingerEnabled(env) === false) {
      return warn("service", `systemd runs ${service.name}, but only while you are logged in (linger is off)`, `loginctl enable-linger ${env.USER ?? "$USER"}`);
    }
    return ok("service", `${service.manager} runs ${service.name}${heartbeat ? ` and its heartbeat schedule` : ""}`);
  },
};

/** What brings the central session (or the daemon) back: the service restarts it. */
export function restartFix(settings: Manifest["settings"]): string {
  const service = settings.service!;
  if (service.manager === "launchd") return `launchctl kickstart -k gui/${uid()}/${service.name}`;
  if (service.manager === "systemd") return `systemctl --user restart ${service.name}.service`;
  return startByHand(settings.daemon ? daemonArgv(settings) : ["/bin/sh", service.wrapperPath]);
}

/** What gets the consumer of the installed queues going: pi itself on tier 1, the central session from tier 2 on. */
export function consumerStartFix(manifest: Manifest): string {
  const service = manifest.settings.service;
  if (!service) return "start pi (the gateway extension loads with it), or run /reload in a running pi";
  const what = manifest.settings.daemon ? "the daemon" : "the central session";
  return `start ${what}, which consumes them (a pi you start by hand does not): ${restartFix(manifest.settings)}`;
}

export const tmuxCheck: DoctorCheck = {
  id: "tmux",
  async run({ manifest, env }) {
    const service = manifest.settings.service;
    if (!service) return skip("tmux", "no central session in this install");
    const pane = await runQuietly(centralTmuxArgv(service, "display-message", "-p", "-t", `=${service.tmuxSession}:0.0`, "#{pane_dead}"), env);
    const alive = (await succeeds(centralTmuxArgv(service, "has-session", "-t", `=${service.tmuxSession}`), env)) && pane?.stdout.trim() === "0";
    if (alive) return ok("tmux", `the central pi runs in tmux session ${service.tmuxSession} (look at it: ${attachCommand(service)})`);
    const log = centralLogPath(manifest.settings.stateDir);
    const why = existsSync(log) ? `; why it stopped: ${log}` : "";
    return fail("tmux", `the central pi is not running in tmux session ${service.tmuxSession}${why}`, restartFix(manifest.settings));
  },
};
