// How a batch of events reads to the model: one user message, one block per event; with
// heartbeats on, they collapse and carry the HEARTBEAT.md checklist. The central pi (PiHost) and
// tier 4's daemon both hand batches over in these words.
import type { GatewayEvent } from "../protocol/event.ts";
import { collapseHeartbeats, heartbeatPrompt, isHeartbeat } from "./heartbeat.ts";

export interface BatchMessage {
  text: string;
  /** the heartbeat this message carries (the newest of the batch), if any */
  heartbeat?: GatewayEvent;
}

/** One message for the whole batch; given the checklist (heartbeats on), heartbeats collapse into one that quotes it. */
export function batchMessage(events: GatewayEvent[], sessionId: string, checklistFile?: string): BatchMessage {
  if (checklistFile === undefined) return { text: formatEvents(events, sessionId) };
  const { events: kept, collapsed } = collapseHeartbeats(events);
  const heartbeat = kept.find(isHeartbeat);
  const others = kept.filter((event) => !isHeartbeat(event));
  const parts = others.length ? [formatEvents(others, sessionId)] : [];
  if (!heartbeat) return { text: parts.join("\n\n") };
  parts.push(heartbeatPrompt(heartbeat, checklistFile, collapsed));
  return { text: parts.join("\n\n"), heartbeat };
}

export function formatEvents(events: GatewayEvent[], sessionId: string): string {
  const header = `[gateway] ${events.length} event${events.length === 1 ? "" : "s"} from Redis for session "${sessionId}":`;
  const blocks = events.map((event, i) => {
    const origin = event.originSession ? ` · origin ${event.originSession}` : "";
    const when = Number.isFinite(event.ts) ? new Date(event.ts).toISOString() : String(event.ts);
    return [
      `--- event ${i + 1}/${events.length}: ${event.type} from ${event.source} · id ${event.id} · ${when}${origin}`,
      JSON.stringify(event.payload, null, 2),
    ].join("\n");
  });
  return [header, ...blocks].join("\n\n");
}
