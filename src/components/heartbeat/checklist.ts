import { ownVersion } from "../../platform/package-root.ts";
import { renderTemplate } from "../../platform/templates.ts";
import { formatInterval } from "./interval.ts";

export function renderChecklist(intervalSeconds: number): string {
  return renderTemplate("heartbeat/HEARTBEAT.md.hbs", { every: formatInterval(intervalSeconds), version: ownVersion() });
}

export function renderInngestHeartbeat(input: { cron: string; redisUrl: string; eventsKey: string; notifyKey: string }): string {
  return renderTemplate("heartbeat/inngest-heartbeat.ts.hbs", { ...input, appId: "pi-gateway", version: ownVersion() });
}
