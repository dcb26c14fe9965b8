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
  let text = `[gateway] ${events.length} event${events.length === 1 ? "" : "s"} from Redis for session "${sessionId}":`;
  events.forEach((event, i) => {
    const origin = event.originSession ? ` · origin ${event.originSession}` : "";
    text += `\n\n--- event ${i + 1}/${events.length}: ${event.type} from ${event.source} · id ${event.id} · ${isoTime(event.ts)}${origin}\n`;
    text += JSON.stringify(event.payload, null, 2);
  });
  return text;
}

let cachedSecond = Number.NaN;
let cachedSecondText = "";

/** Date's ISO form of an epoch-milliseconds time; a backlog's events mostly share their second, which is formatted once. */
function isoTime(ts: number): string {
  if (!Number.isFinite(ts)) return String(ts);
  const ms = Math.trunc(ts);
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const text = new Date(second * 1000).toISOString();
    // only the common "YYYY-MM-DDTHH:MM:SS.000Z" form is cut and reused
    if (text.length !== 24) return new Date(ts).toISOString();
    cachedSecond = second;
    cachedSecondText = text.slice(0, 20);
  }
  return `${cachedSecondText}${String(ms - second * 1000).padStart(3, "0")}Z`;
}
