import { existsSync } from "node:fs";
import type { Component } from "../../core/component.ts";
import { heartbeatCheck } from "./check.ts";

/**
 * The heartbeat: HEARTBEAT.md and what pushes a heartbeat event on schedule (cron, launchd,
 * systemd or an Inngest function). Its files and jobs are rendered with the service manager's
 * (see the service component); the last-heartbeat record is written as heartbeats arrive.
 */
export const heartbeat: Component = {
  id: "heartbeat",
  applies: (settings) => Boolean(settings.heartbeat),
  plan: () => ({ steps: [] }),
  removal: ({ settings }) => {
    const record = settings.heartbeat!.lastHeartbeatFile;
    return existsSync(record) ? { cleanUp: [{ kind: "remove-file", path: record }] } : {};
  },
  checks: [heartbeatCheck],
};
