// What kind of machine this is, as data, so plans for macOS can be built (and tested) on Linux
// (platform/system.ts detects it).

export interface SystemInfo {
  platform: "darwin" | "linux" | "other";
  isRoot: boolean;
  /** binaries found on PATH, by name */
  binaries: Record<string, string | undefined>;
  /** systemd is PID 1 (systemctl start works) */
  systemdRunning: boolean;
  uid: number;
  /** what can keep the central session running: launchd (macOS), a systemd user manager, or nothing (containers) */
  serviceManager: "launchd" | "systemd" | "none";
  /**
   * a cron daemon runs, so crontab entries run (macOS: launchd starts cron itself); false: none
   * runs (a container, say); absent: unknown, or no crontab here
   */
  cronRunning?: boolean;
  /** systemd: whether the user's manager outlives their login (loginctl's Linger); absent: unknown */
  lingerOn?: boolean;
}
