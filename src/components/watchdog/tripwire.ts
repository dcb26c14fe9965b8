// Watchdog layer 2: a script, run on a schedule by launchd / systemd / cron, that alerts when the
// central session's last-heartbeat file goes stale, even when pi itself is dead.
import { join } from "node:path";
import { ownVersion } from "../../platform/package-root.ts";
import { renderTemplate } from "../../platform/templates.ts";

export const BOOT_GRACE_SECONDS = 600;

export function tripwirePaths(stateDir: string) {
  return {
    script: join(stateDir, "tripwire.sh"),
    alertedMarker: join(stateDir, "tripwire.alerted"),
    log: join(stateDir, "tripwire.log"),
    /** touched on every run: a run long after the previous one means the machine slept */
    lastRun: join(stateDir, "tripwire.last-run"),
  };
}

export interface TripwireTiming {
  /** how often the scheduler runs the tripwire (cron may be coarser than the heartbeat); default: the heartbeat interval */
  runEverySeconds?: number;
  bootGraceSeconds?: number;
  /** tier 4: the alert also goes to these chats through the Bot API (curl; the token read from the secrets file) */
  telegram?: { apiRoot: string; chats: number[]; secretsFile: string };
}

export function renderTripwire(stateDir: string, lastHeartbeatFile: string, intervalSeconds: number, timing: TripwireTiming = {}): string {
  const paths = tripwirePaths(stateDir);
  const runEvery = timing.runEverySeconds ?? intervalSeconds;
  return renderTemplate("watchdog/tripwire.sh.hbs", {
    version: ownVersion(),
    lastHeartbeatFile,
    alertedMarker: paths.alertedMarker,
    logFile: paths.log,
    lastRunFile: paths.lastRun,
    staleSeconds: intervalSeconds * 2,
    intervalSeconds,
    missedRunSeconds: Math.ceil(runEvery * 1.5),
    bootGraceSeconds: timing.bootGraceSeconds ?? BOOT_GRACE_SECONDS,
    ...(timing.telegram ? { telegram: { ...timing.telegram, chats: timing.telegram.chats.join(" ") } } : {}),
  });
}
