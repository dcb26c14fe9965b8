// Heartbeat intervals: "15m", "1h", "90s" -> seconds, and the cron schedule that matches.

export class IntervalError extends Error {}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

export function parseInterval(text: string): number {
  const match = /^(\d+)\s*([smh])$/.exec(text.trim());
  if (!match) throw new IntervalError(`invalid interval ${JSON.stringify(text)}: use a number with s, m or h, e.g. 15m`);
  const seconds = Number(match[1]) * UNITS[match[2]!]!;
  if (seconds < 1) throw new IntervalError("the interval must be at least 1s");
  return seconds;
}

export function formatInterval(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** What runs a cron schedule, as the interval errors name it. */
export const CRON_SCHEDULERS = { cron: "cron", inngest: "an Inngest cron trigger" } as const;

/**
 * cron runs at most once a minute, on a schedule that divides the hour or the day evenly; so does
 * an Inngest cron trigger (`scheduler` names which one the error is about)
 */
export function cronSchedule(seconds: number, scheduler: string = CRON_SCHEDULERS.cron): string {
  const hint =
    `${scheduler} can run every N minutes where N divides 60, or every N hours where N divides 24; ` + "choose such an interval or another heartbeat source";
  const cannot = (every: string) => new IntervalError(`${scheduler} cannot run every ${every}: ${hint}`);
  if (seconds % 60 !== 0) throw cannot(formatInterval(seconds));
  const minutes = seconds / 60;
  if (minutes < 60) {
    if (60 % minutes !== 0) throw cannot(`${minutes}m`);
    return minutes === 1 ? "* * * * *" : `*/${minutes} * * * *`;
  }
  const hours = minutes / 60;
  if (!Number.isInteger(hours) || 24 % hours !== 0) throw cannot(formatInterval(seconds));
  return hours === 1 ? "0 * * * *" : `0 */${hours} * * *`;
}

/** The period of the most frequent cron schedule that runs no more often than every `seconds` (for jobs that may be coarser). */
export function nearestCronSeconds(seconds: number): number {
  const minutes = Math.max(1, Math.floor(seconds / 60));
  if (minutes < 60) return 60 * Math.max(...[1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30].filter((d) => d <= minutes));
  const hours = Math.min(24, Math.floor(minutes / 60));
  return 3600 * Math.max(...[1, 2, 3, 4, 6, 8, 12, 24].filter((d) => d <= hours));
}

export function nearestCronSchedule(seconds: number): string {
  return cronSchedule(nearestCronSeconds(seconds));
}
