// Doctor checks for tier 2: the service runs, its heartbeat and tripwire schedules are loaded, pi
// lives in its tmux session, heartbeats are fresh, the crontab block is in place.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fail, ok, skip, warn, type Finding } from "../../core/finding.ts";
import type { DoctorCheck } from "../../core/check.ts";
import type { Manifest } from "../../core/manifest.ts";
import { readLastHeartbeat } from "../../runtime/extension/heartbeat.ts";
import { cronJobs, startByHand, watchdogOn } from "../../plan/tier2.ts";
import { readCrontab } from "../../platform/crontab.ts";
import { CommandNotFoundError, run, type Env, type RunResult } from "../../platform/exec.ts";
import { homeDir } from "../../platform/paths.ts";
import { cronDaemonRunning, currentPlatform, lingerEnabled, startCronCommand } from "../../platform/system.ts";
import { shellQuote } from "../../platform/shell.ts";
import { readCronEntries } from "../heartbeat/crontab-block.ts";
import { formatInterval } from "../heartbeat/interval.ts";
import { tripwirePaths } from "../watchdog/tripwire.ts";
import { launchAgentsDir, launchdJobLabels } from "./launchd.ts";
import { attachCommand, centralLogPath, centralTmuxArgv } from "./wrapper.ts";

type Service = NonNullable<Manifest["settings"]["service"]>;

const isTier2 = (manifest: Manifest) => Boolean(manifest.settings.service);
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
function scheduledJobs(manifest: Manifest): { heartbeat?: string; tripwire?: string } {
  const service = manifest.settings.service!;
  if (service.manager === "none") return {};
  const { heartbeat, tripwire } = service.manager === "launchd" ? launchdJobLabels(service.name) : { heartbeat: `${service.name}-heartbeat.timer`, tripwire: `${service.name}-tripwire.timer` };
  return {
    ...(manifest.settings.heartbeat?.source === service.manager ? { heartbeat } : {}),
    ...(watchdogOn(manifest.settings) ? { tripwire } : {}),
  };
}

/** A periodic job is fine while loaded (launchd) or while its timer is active (systemd). */
function scheduledJobLoaded(service: Service, job: string, env: Env): Promise<boolean> {
  return service.manager === "launchd" ? succeeds(["launchctl", "print", `gui/${uid()}/${job}`], env) : succeeds(["systemctl", "--user", "is-active", "--quiet", job], env);
}

function loadFix(service: Service, job: string, env: Env): string {
  return service.manager === "launchd"
    ? `launchctl bootstrap gui/${uid()} ${shellQuote(join(launchAgentsDir(homeDir(env)), `${job}.plist`))}`
    : `systemctl --user enable --now ${job}`;
}

/** launchd: loaded and `state = running`; systemd: active. */
async function centralJobState(service: Service, env: Env): Promise<{ running: boolean; why: string; fix: string }> {
  if (service.manager === "systemd") {
    const running = await succeeds(["systemctl", "--user", "is-active", "--quiet", `${service.name}.service`], env);
    return { running, why: `systemd does not run ${service.name}.service`, fix: `systemctl --user enable --now ${service.name}.service` };
  }
  const printed = await runQuietly(["launchctl", "print", `gui/${uid()}/${service.name}`], env);
  if (printed?.code !== 0) return { running: false, why: `launchd has not loaded ${service.name}`, fix: loadFix(service, service.name, env) };
  const state = /^\s*state = (.+)$/m.exec(printed.stdout)?.[1]?.trim();
  return { running: state === "running", why: `launchd has ${service.name} loaded but not running (state = ${state ?? "unknown"})`, fix: `launchctl kickstart -k gui/${uid()}/${service.name}` };
}

export const serviceCheck: DoctorCheck = {
  id: "service",
  applies: isTier2,
  async run({ manifest, env }) {
    const service = manifest.settings.service;
    if (!service) return skip("service", "no service in this install");
    if (service.manager === "none") {
      return warn("service", "no service manager keeps the central session alive on this machine", `start it yourself: ${startByHand(service.wrapperPath)}`);
    }
    const central = await centralJobState(service, env);
    if (!central.running) return fail("service", central.why, central.fix);
    const { heartbeat } = scheduledJobs(manifest);
    if (heartbeat && !(await scheduledJobLoaded(service, heartbeat, env))) {
      return fail("service", `${service.manager} runs ${service.name}, but the heartbeat schedule ${heartbeat} is not loaded: no heartbeats are sent`, loadFix(service, heartbeat, env));
    }
    if (service.manager === "systemd" && lingerEnabled(env) === false) {
      return warn("service", `systemd runs ${service.name}, but only while you are logged in (linger is off)`, `loginctl enable-linger ${env.USER ?? "$USER"}`);
    }
    return ok("service", `${service.manager} runs ${service.name}${heartbeat ? ` and its heartbeat schedule` : ""}`);
  },
};

/** What brings the central session back: the service restarts the wrapper, which starts pi. */
function restartFix(service: Service): string {
  if (service.manager === "launchd") return `launchctl kickstart -k gui/${uid()}/${service.name}`;
  if (service.manager === "systemd") return `systemctl --user restart ${service.name}.service`;
  return startByHand(service.wrapperPath);
}

/** What gets the consumer of the installed queues going: pi itself on tier 1, the central session from tier 2 on. */
export function consumerStartFix(manifest: Manifest): string {
  const service = manifest.settings.service;
  if (!service) return "start pi (the gateway extension loads with it), or run /reload in a running pi";
  return `start the central session, which consumes them (a pi you start by hand does not): ${restartFix(service)}`;
}

export const tmuxCheck: DoctorCheck = {
  id: "tmux",
  applies: isTier2,
  async run({ manifest, env }) {
    const service = manifest.settings.service;
    if (!service) return skip("tmux", "no central session in this install");
    const pane = await runQuietly(centralTmuxArgv(service, "display-message", "-p", "-t", `=${service.tmuxSession}:0.0`, "#{pane_dead}"), env);
    const alive = (await succeeds(centralTmuxArgv(service, "has-session", "-t", `=${service.tmuxSession}`), env)) && pane?.stdout.trim() === "0";
    if (alive) return ok("tmux", `the central pi runs in tmux session ${service.tmuxSession} (look at it: ${attachCommand(service)})`);
    const log = centralLogPath(manifest.settings.stateDir);
    const why = existsSync(log) ? `; why it stopped: ${log}` : "";
    return fail("tmux", `the central pi is not running in tmux session ${service.tmuxSession}${why}`, restartFix(service));
  },
};

export const heartbeatCheck: DoctorCheck = {
  id: "heartbeat",
  applies: isTier2,
  async run({ manifest }) {
    const heartbeat = manifest.settings.heartbeat;
    if (!heartbeat) return skip("heartbeat", "no heartbeat in this install");
    if (heartbeat.source === "none") return skip("heartbeat", "no heartbeat source is installed (--heartbeat none)");
    const last = readLastHeartbeat(heartbeat.lastHeartbeatFile);
    const every = formatInterval(heartbeat.intervalSeconds);
    if (!last && existsSync(heartbeat.lastHeartbeatFile)) {
      return fail("heartbeat", `${heartbeat.lastHeartbeatFile} is not a heartbeat record`, `rm ${shellQuote(heartbeat.lastHeartbeatFile)} (the central session writes it again on the next heartbeat)`);
    }
    if (!last) {
      const age = Date.now() - Date.parse(manifest.updatedAt);
      return age > heartbeat.intervalSeconds * 2000
        ? fail("heartbeat", `no heartbeat has reached the central session since the install (every ${every} expected)`, "gateway-setup doctor --only service,tmux; check the heartbeat source")
        : ok("heartbeat", `no heartbeat yet; the first is due within ${every}`);
    }
    const ageSeconds = Math.round((Date.now() - last.deliveredAt) / 1000);
    const message = `last heartbeat handed to pi ${ageSeconds} s ago${last.acknowledgedAt ? ", acknowledged" : ""} (every ${every} expected)`;
    return ageSeconds > heartbeat.intervalSeconds * 2
      ? fail("heartbeat", message, `check the heartbeat source (${heartbeat.source}) and the central session: gateway-setup doctor --only service,tmux,crontab`)
      : ok("heartbeat", message);
  },
};

export const tripwireCheck: DoctorCheck = {
  id: "tripwire",
  applies: isTier2,
  async run({ manifest, env }): Promise<Finding> {
    if (!watchdogOn(manifest.settings)) return skip("tripwire", "no tripwire in this install (no heartbeat source)");
    const { script, log } = tripwirePaths(manifest.settings.stateDir);
    if (!existsSync(script)) return fail("tripwire", `${script} is missing`, `${manifest.command} (the install that wrote it puts it back)`);
    const service = manifest.settings.service!;
    const { tripwire } = scheduledJobs(manifest);
    if (tripwire && !(await scheduledJobLoaded(service, tripwire, env))) {
      return fail("tripwire", `the tripwire schedule ${tripwire} is not loaded: nothing watches the heartbeat from outside pi`, loadFix(service, tripwire, env));
    }
    return ok("tripwire", `tripwire installed${tripwire ? " and scheduled" : ""}${existsSync(log) ? `; it has raised alerts (see ${log})` : ""}`);
  },
};

/** The crontab holds gateway-setup's block exactly as the install wrote it. */
function blockAsInstalled(crontab: string, manifest: Manifest): boolean {
  return JSON.stringify(readCronEntries(crontab)) === JSON.stringify(manifest.crontab?.entries);
}

export const crontabCheck: DoctorCheck = {
  id: "crontab",
  applies: (manifest) => Boolean(manifest.crontab),
  async run({ manifest, env }) {
    const installed = manifest.crontab;
    if (!installed) return skip("crontab", "gateway-setup has no crontab block here");
    const crontab = await readCrontab(env);
    const current = readCronEntries(crontab);
    if (!current) return fail("crontab", "gateway-setup's block is missing from your crontab (or there are two)", "gateway-setup doctor --fix");
    if (!blockAsInstalled(crontab, manifest)) return fail("crontab", "gateway-setup's crontab block was changed by hand", "gateway-setup doctor --fix");
    const present = `crontab block present with ${current.length} entr${current.length === 1 ? "y" : "ies"}`;
    if (cronDaemonRunning(currentPlatform(), env) === false) {
      return fail("crontab", `${present}, but no cron daemon is running (a container?): ${cronJobs(manifest.settings)} never run (the daemon is cron on Debian/Ubuntu, crond on Fedora or Alpine)`, startCronCommand());
    }
    return ok("crontab", present);
  },
  async repair({ manifest, env }) {
    const { mergeCronBlock } = await import("../heartbeat/crontab-block.ts");
    const { writeCrontab } = await import("../../platform/crontab.ts");
    const crontab = await readCrontab(env);
    // the block is in place and only the cron daemon is missing: that takes root, not a safe repair
    if (blockAsInstalled(crontab, manifest)) return `not repaired: start the cron daemon yourself (${startCronCommand()})`;
    await writeCrontab(mergeCronBlock(crontab, manifest.crontab!.entries), env);
    return "re-added the crontab block";
  },
};
