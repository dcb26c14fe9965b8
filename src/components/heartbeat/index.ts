import { existsSync } from "node:fs";
import type { Component } from "../../core/component.ts";
import { heartbeatCheck } from "./check.ts";
import { planHeartbeat } from "./plan.ts";

/**
 * The heartbeat: HEARTBEAT.md and what pushes a heartbeat event on schedule (cron, launchd,
 * systemd or an Inngest function); the last-heartbeat record is written as heartbeats arrive.
 */
export const heartbeat: Component = {
  id: "heartbeat",
  applies: (settings) => Boolean(settings.heartbeat),
  plan: planHeartbeat,
  removal: ({ settings }) => {
    const record = settings.heartbeat!.lastHeartbeatFile;
    return existsSync(record) ? { cleanUp: [{ kind: "remove-file", path: record }] } : {};
  },
  checks: [heartbeatCheck],
};
