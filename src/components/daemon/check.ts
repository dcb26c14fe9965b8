// Doctor's checks of the daemon (tier 4): the service runs it and it is alive and ticking; its
// model resolves and has credentials.
import { existsSync } from "node:fs";
import type { DoctorCheck } from "../../core/check.ts";
import { fail, ok } from "../../core/finding.ts";
import { processAlive } from "../../platform/process-alive.ts";
import { readDaemonStatus } from "../../runtime/daemon/status-file.ts";
import { rerunCommand } from "../rerun.ts";
import { centralJobState, restartFix } from "../service/check.ts";

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
        `install gateway-setup where it stays (npm install -g gateway-setup), then re-run: ${rerunCommand(manifest)}`,
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
};

export const modelCheck: DoctorCheck = {
  id: "model",
  async run({ manifest }) {
    const { agentDir, daemon } = manifest.settings;
    // pi's SDK is heavy: loaded only when this check runs
    const { DaemonModelError, resolveDaemonModel } = await import("../../runtime/daemon/pi-session.ts");
    try {
      const model = resolveDaemonModel({ agentDir, ...(daemon!.model ? { model: daemon!.model } : {}) });
      return ok("model", `the daemon's model ${model.label} resolves and has credentials`);
    } catch (error) {
      if (error instanceof DaemonModelError) return fail("model", error.message, error.fix);
      throw error;
    }
  },
};
