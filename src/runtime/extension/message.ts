// How a batch of events reads to the model: one user message, one block per event.
import type { GatewayEvent } from "../protocol/event.ts";

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
