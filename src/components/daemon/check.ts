// Doctor's checks of the daemon (tier 4): the service runs it and it is alive and ticking; its
// model resolves and has credentials.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DoctorCheck, DoctorContext } from "../../core/check.ts";
import { fail, ok } from "../../core/finding.ts";
import type { Manifest } from "../../core/manifest.ts";
import type { FileStep, PlanSettings } from "../../core/plan.ts";
import { backupRoot, sha256 } from "../../install/fs-ops.ts";
import { renderManifest } from "../../install/manifest.ts";
import { type Env, run } from "../../platform/exec.ts";
import { PACKAGE_ROOT } from "../../platform/package-root.ts";
import { homeDir } from "../../platform/paths.ts";
import { processAlive } from "../../platform/process-alive.ts";
import { detectSystem } from "../../platform/system.ts";
import { readDaemonStatus } from "../../runtime/daemon/status-file.ts";
import { writeRepaired } from "../repair-file.ts";
import { centralJobState, restartFix } from "../service/check.ts";
import { serviceJobSteps } from "../service/jobs.ts";
import { bootstrapArgv, launchAgentsDir } from "../service/launchd.ts";
import { daemonJob } from "./plan.ts";

/** a daemon that wrote no status tick for this long is stuck */
const TICK_STALE_MS = 60_000;

export const daemonCheck: DoctorCheck = {
  id: "daemon",
  async run({ manifest, env }) {
    const { settings } = manifest;
    const daemon = settings.daemon!;
    const gone = [daemon.nodePath, daemon.cliPath].filter((path) => !existsSync(path));
    if (gone.length) {
      return fail(
        "daemon",
        `${gone.join(" and ")} ${gone.length === 1 ? "is" : "are"} gone (a node version switch, or a cleaned npx cache?): the service cannot start the daemon`,
        "gateway-setup doctor --fix (renders the service job again with the node and gateway-setup running it; " +
          `install gateway-setup where it stays first: npm install -g gateway-setup)`,
      );
    }
    if (settings.service!.manager !== "none") {
      const job = await centralJobState(settings.service!, env);
      if (!job.running) return fail("daemon", job.why, job.fix);
    }
    const status = readDaemonStatus(settings.stateDir);
    if (!status || status.stoppedAt !== undefined || !processAlive(status.pid)) {
      return fail("daemon", status ? `the daemon (pid ${status.pid}) is not running` : "the daemon has not run yet", restartFix(settings));
    }
    const sinceTick = Date.now() - status.lastLoopTickAt;
    if (sinceTick > TICK_STALE_MS) {
      return fail("daemon", `the daemon (pid ${status.pid}) has not ticked for ${Math.round(sinceTick / 1000)} s: it looks stuck`, restartFix(settings));
    }
    const up = Math.round((Date.now() - status.startedAt) / 60_000);
    return ok("daemon", `the daemon runs (pid ${status.pid}, up ${up} min, model ${status.model}, Redis ${status.consumer})`);
  },
  repair: renderJobAgain,
};

/**
 * node or this package moved (a node version switch, a re-install elsewhere): the daemon's job is
 * rendered again with the node running doctor and this package's CLI, the manifest records them, and
 * the service manager loads the job again. Each write leaves its undo in the journal first.
 */
async function renderJobAgain(ctx: DoctorContext): Promise<string> {
  const { manifest, env } = ctx;
  const settings = manifest.settings;
  const daemon = settings.daemon!;
  if ([daemon.nodePath, daemon.cliPath].every((path) => existsSync(path))) return `not repaired: ${restartFix(settings)} starts it again`;
  const moved: PlanSettings = { ...settings, daemon: { ...daemon, nodePath: process.execPath, cliPath: join(PACKAGE_ROOT, "bin", "gateway-setup.js") } };
  const jobFiles = serviceJobSteps("daemon", { settings: moved, system: detectSystem(env), env }, daemonJob(moved)).filter(
    (step): step is FileStep => step.kind === "file",
  );
  if (!jobFiles.length) return `nothing to render here (no service manager): start it with ${restartFix(moved)}`;
  const backups = backupRoot(settings.stateDir, new Date());
  for (const file of jobFiles) writeRepaired(ctx, backups, file.path, file.contents, file.mode);
  const hashes = new Map(jobFiles.map((file) => [file.path, sha256(file.contents)]));
  const recorded: Manifest = {
    ...manifest,
    settings: moved,
    files: manifest.files.map((file) => (hashes.has(file.path) ? { ...file, sha256: hashes.get(file.path)! } : file)),
  };
  writeRepaired(ctx, backups, settings.manifestPath, renderManifest(recorded), 0o600);
  await reloadDaemonJob(moved, env);
  return `rendered the daemon's service job again with ${moved.daemon!.nodePath} and ${moved.daemon!.cliPath}, and restarted it`;
}

async function reloadDaemonJob(settings: PlanSettings, env: Env): Promise<void> {
  const service = settings.service!;
  const commands =
    service.manager === "systemd"
      ? [
          ["systemctl", "--user", "daemon-reload"],
          ["systemctl", "--user", "restart", `${service.name}.service`],
        ]
      : [
          ["launchctl", "bootout", `gui/${process.getuid?.() ?? 0}/${service.name}`],
          bootstrapArgv(`gui/${process.getuid?.() ?? 0}`, join(launchAgentsDir(homeDir(env)), `${service.name}.plist`)),
        ];
  for (const [binary, ...args] of commands) await run(binary!, args, { env, timeoutMs: 30_000 }).catch(() => undefined);
}

export const modelCheck: DoctorCheck = {
  id: "model",
  async run({ manifest }) {
    const { agentDir, daemon } = manifest.settings;
    // pi's SDK is heavy: loaded only when this check runs
    return (await import("./model.ts")).checkDaemonModel(agentDir, daemon!.model);
  },
};
