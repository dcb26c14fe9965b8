// Heartbeats in the central session: several pending ones collapse into the newest, the model
// gets the HEARTBEAT.md checklist, a reply of only HEARTBEAT_OK counts as an acknowledgement,
// and a watchdog raises one alarm when heartbeats stop arriving (watchdog layer 1).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type GatewayEvent, HEARTBEAT_EVENT_TYPE } from "../protocol/event.ts";
import type { HeartbeatConfig } from "./config.ts";

export const HEARTBEAT_OK = "HEARTBEAT_OK";

export function isHeartbeat(event: GatewayEvent): boolean {
  return event.type === HEARTBEAT_EVENT_TYPE;
}

/** Keeps every other event and only the newest heartbeat; says how many heartbeats were folded in. */
export function collapseHeartbeats(events: GatewayEvent[]): { events: GatewayEvent[]; collapsed: number } {
  const heartbeats = events.filter(isHeartbeat);
  if (heartbeats.length <= 1) return { events, collapsed: 0 };
  const newest = heartbeats.reduce((a, b) => (b.ts >= a.ts ? b : a));
  return { events: events.filter((event) => !isHeartbeat(event) || event === newest), collapsed: heartbeats.length - 1 };
}

export function heartbeatPrompt(event: GatewayEvent, checklistFile: string, collapsed: number): string {
  let checklist: string;
  try {
    checklist = readFileSync(checklistFile, "utf8").trim();
  } catch {
    checklist = `(the checklist ${checklistFile} could not be read; check that everything you are responsible for is fine)`;
  }
  const folded = collapsed ? ` (${collapsed} earlier heartbeat${collapsed === 1 ? "" : "s"} folded into this one)` : "";
  return [
    `[gateway] heartbeat from ${event.source} at ${new Date(event.ts).toISOString()}${folded}.`,
    `Go through the checklist below. If nothing needs attention, reply with exactly ${HEARTBEAT_OK} and nothing else.`,
    "",
    checklist,
  ].join("\n");
}

/** True when the assistant's final reply of a turn is only HEARTBEAT_OK. */
export function isHeartbeatAck(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  const last = [...messages].reverse().find((m) => (m as { role?: string })?.role === "assistant") as { content?: unknown } | undefined;
  if (!last) return false;
  const text =
    typeof last.content === "string"
      ? last.content
      : Array.isArray(last.content)
        ? last.content
            .filter((c: { type?: string }) => c?.type === "text")
            .map((c: { text?: string }) => c.text ?? "")
            .join("")
        : "";
  return isHeartbeatOkReply(text);
}

/** True when a reply says only HEARTBEAT_OK: nothing needs attention, so nobody is told. */
export function isHeartbeatOkReply(text: string): boolean {
  return text.trim() === HEARTBEAT_OK;
}

export interface LastHeartbeat {
  eventId: string;
  /** the heartbeat's own timestamp */
  ts: number;
  deliveredAt: number;
  acknowledgedAt?: number;
}

export function writeLastHeartbeat(file: string, record: LastHeartbeat): void {
  // the gateway's state dir: private to the user, like everything in it
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(record) + "\n", { mode: 0o600 });
  renameSync(temp, file);
}

/** The record, or undefined when the file is missing or not a record this module wrote. */
export function readLastHeartbeat(file: string): LastHeartbeat | undefined {
  let record: Partial<Record<keyof LastHeartbeat, unknown>>;
  try {
    record = JSON.parse(readFileSync(file, "utf8")) as typeof record;
  } catch {
    return undefined;
  }
  const isTime = (value: unknown) => typeof value === "number" && Number.isFinite(value) && value > 0;
  if (typeof record !== "object" || record === null || typeof record.eventId !== "string" || !isTime(record.ts) || !isTime(record.deliveredAt))
    return undefined;
  if (record.acknowledgedAt !== undefined && !isTime(record.acknowledgedAt)) return undefined;
  return record as LastHeartbeat;
}

/** Each heartbeat source as the alarm names it. */
const SOURCE_NAMES: Record<NonNullable<HeartbeatConfig["source"]>, string> = {
  cron: "gateway-setup's block in your crontab",
  launchd: "the launchd heartbeat job",
  systemd: "the systemd heartbeat timer",
  inngest: "the Inngest function your Inngest app serves",
};

/** What the watchdog tells the user and the model: how long it has been quiet, and which source to look at. */
export function watchdogAlarmText(config: HeartbeatConfig, silentForMs: number): string {
  const minutes = Math.round(silentForMs / 60_000);
  // an extension an older setup installed does not know its source
  const source = config.source ? `The heartbeat source (${SOURCE_NAMES[config.source]})` : "The heartbeat source";
  return (
    `[gateway watchdog] No heartbeat has arrived for ${minutes >= 1 ? `${minutes} min` : `${Math.round(silentForMs / 1000)} s`} ` +
    `(expected every ${config.intervalSeconds} s). ${source} may have stopped: ` +
    "tell the user, and suggest running `gateway-setup doctor`."
  );
}

/**
 * Watchdog layer 1: one alarm when no heartbeat arrived for twice the interval, after a grace
 * period. A check that comes far later than scheduled means the machine slept (timers stop, the
 * wall clock does not): that is treated like a fresh start, with a new grace period, because the
 * heartbeat source has not had a chance to beat since the wake-up.
 */
export class HeartbeatWatchdog {
  private lastHeartbeatAt: number;
  private alarmed = false;
  private graceFrom: number;
  private lastCheckAt: number;

  constructor(
    private readonly config: HeartbeatConfig,
    private readonly alarm: (silentForMs: number) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.graceFrom = now();
    this.lastHeartbeatAt = this.graceFrom;
    this.lastCheckAt = this.graceFrom;
  }

  get checkEveryMs(): number {
    return Math.max(250, Math.min(30_000, (this.config.intervalSeconds * 1000) / 4));
  }

  /** a gap between two checks this long is a sleep, not a slow event loop */
  get resumeGapMs(): number {
    return Math.max(3 * this.checkEveryMs, 30_000);
  }

  heartbeat(): void {
    this.lastHeartbeatAt = this.now();
    this.alarmed = false;
  }

  check(): void {
    const now = this.now();
    if (now - this.lastCheckAt > this.resumeGapMs) this.graceFrom = now;
    this.lastCheckAt = now;
    const graceMs = (this.config.graceSeconds ?? this.config.intervalSeconds * 2) * 1000;
    const silentFor = now - this.lastHeartbeatAt;
    if (this.alarmed || now - this.graceFrom < graceMs || silentFor <= this.config.intervalSeconds * 2000) return;
    this.alarmed = true;
    this.alarm(silentFor);
  }
}
