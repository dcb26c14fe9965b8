// Which part consumes an install's queue (the pi a user starts, or the central session that
// supersedes it), and the closing lines the parts add to setup's summary.
import type { ConsumerNote } from "../core/component.ts";
import type { PlanSettings } from "../core/plan.ts";
import { COMPONENTS } from "./index.ts";

export function queueConsumer(settings: PlanSettings): ConsumerNote {
  const notes = COMPONENTS.filter((component) => component.consumer && component.applies(settings)).map((component) => component.consumer!(settings));
  const last = notes.at(-1);
  if (!last) throw new Error("no component consumes the queue");
  return last;
}

export function summaryLines(settings: PlanSettings): string[] {
  return COMPONENTS.filter((component) => component.applies(settings)).flatMap((component) => component.summary?.(settings) ?? []);
}
