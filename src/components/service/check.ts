// Doctor checks for tier 2: the service is loaded, pi lives in its tmux session, heartbeats are
// fresh, the tripwire and the crontab block are in place.
import { existsSync } from "node:fs";
import { fail, ok, skip, warn } from "../../doctor/finding.ts";
import type { DoctorCheck } from "../../doctor/check.ts";
import type { Manifest } from "../../install/manifest.ts";
import { readLastHeartbeat } from "../../extension/heartbeat.ts";
import { readCrontab } from "../../platform/crontab.ts";
import { CommandNotFoundError, run } from "../../platform/exec.ts";
import { readCronEntries } from "../heartbeat/crontab-block.ts";
import { formatInterval } from "../heartbeat/interval.ts";
import { tripwirePaths } from "../watchdog/tripwire.ts";

const isTier2 = (manifest: Manifest) => Boolean(manifest.settings.service);

async function succeeds(argv: string[], env: NodeJS.ProcessEnv | Record<string, string | undefined>): Promise<boolean> {
  try {
    const [binary, ...args] = argv as [string, ...string[]];
    return (await run(binary, args, { env, timeoutMs: 10_000 })).code === 0;
  } catch (error) {
    if (error instanceof CommandNotFoundError) return false;
    throw error;
  }
}

export const serviceCheck: DoctorCheck = {
  id: "service",
  applies: isTier2,
  async run({ manifest, env }) {
    const service = manifest.settings.service;
    if (!service) return skip("service", "no service in this install");
    if (service.manager === "none") {
      return warn("service", "no service manager keeps the central session alive on this machine", `start it yourself: nohup /bin/sh ${service.wrapperPath} >/dev/null 2>&1 &`);
    }
    const uid = process.getuid?.() ?? 0;
    const loaded =
      service.manager === "launchd"
        ? await succeeds(["launchctl", "print", `gui/${uid}/${service.name}`], env)
        : await succeeds(["systemctl", "--user", "is-active", "--quiet", `${service.name}.service`], env);
    const fix = service.manager === "launchd" ? `launchctl bootstrap gui/${uid} ~/Library/LaunchAgents/${service.name}.plist` : `systemctl --user enable --now ${service.name}.service`;
    if (!loaded) return fail("service", `${service.manager} does not run ${service.name}`, fix);
    if (service.manager === "systemd" && (await lingerIsOff(env))) {
      return warn("service", `systemd runs ${service.name}, but only while you are logged in (linger is off)`, `loginctl enable-linger ${env.USER ?? "$USER"}`);
    }
    return ok("service", `${service.manager} runs ${service.name}`);
  },
};

async function lingerIsOff(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Promise<boolean> {
  try {
    const result = await run("loginctl", ["show-user", env.USER ?? String(process.getuid?.() ?? ""), "--property=Linger"], { env, timeoutMs: 10_000 });
    return result.code === 0 && /Linger=no/.test(result.stdout);
  } catch {
    return false;
  }
}

export const tmuxCheck: DoctorCheck = {
  id: "tmux",
  applies: isTier2,
  async run({ manifest, env }) {
    const service = manifest.settings.service;
    if (!service) return skip("tmux", "no central session in this install");
    const alive = await succeeds(["tmux", "has-session", "-t", `=${service.tmuxSession}`], env);
    return alive
      ? ok("tmux", `the central pi runs in tmux session ${service.tmuxSession} (tmux attach -t ${service.tmuxSession})`)
      : fail("tmux", `tmux session ${service.tmuxSession} is not running, so the central pi session is down`, service.manager === "none" ? `nohup /bin/sh ${service.wrapperPath} >/dev/null 2>&1 &` : "gateway-setup doctor --only service (the service restarts it)");
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
  async run({ manifest }) {
    if (!manifest.settings.heartbeat) return skip("tripwire", "no tripwire in this install");
    const { script, log } = tripwirePaths(manifest.settings.stateDir);
    if (!existsSync(script)) return fail("tripwire", `${script} is missing`, "gateway-setup doctor --fix");
    return ok("tripwire", `tripwire installed${existsSync(log) ? `; it has raised alerts (see ${log})` : ""}`);
  },
};

export const crontabCheck: DoctorCheck = {
  id: "crontab",
  applies: (manifest) => Boolean(manifest.crontab),
  async run({ manifest, env }) {
    const installed = manifest.crontab;
    if (!installed) return skip("crontab", "gateway-setup has no crontab block here");
    const current = readCronEntries(await readCrontab(env));
    if (!current) return fail("crontab", "gateway-setup's block is missing from your crontab (or there are two)", "gateway-setup doctor --fix");
    return JSON.stringify(current) === JSON.stringify(installed.entries)
      ? ok("crontab", `crontab block present with ${current.length} entr${current.length === 1 ? "y" : "ies"}`)
      : fail("crontab", "gateway-setup's crontab block was changed by hand", "gateway-setup doctor --fix");
  },
  async repair({ manifest, env }) {
    const { mergeCronBlock } = await import("../heartbeat/crontab-block.ts");
    const { writeCrontab } = await import("../../platform/crontab.ts");
    await writeCrontab(mergeCronBlock(await readCrontab(env), manifest.crontab!.entries), env);
    return "re-added the crontab block";
  },
};
