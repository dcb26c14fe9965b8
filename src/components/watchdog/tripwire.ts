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
  };
}

export function renderTripwire(stateDir: string, lastHeartbeatFile: string, intervalSeconds: number, bootGraceSeconds = BOOT_GRACE_SECONDS): string {
  const paths = tripwirePaths(stateDir);
  return renderTemplate("watchdog/tripwire.sh.hbs", {
    version: ownVersion(),
    lastHeartbeatFile,
    alertedMarker: paths.alertedMarker,
    logFile: paths.log,
    staleSeconds: intervalSeconds * 2,
    intervalSeconds,
    bootGraceSeconds,
  });
}
