import type { Component } from "../../core/component.ts";
import { piCheck } from "./check.ts";

/** pi itself: the user installs it; doctor checks that it is there and new enough. */
export const pi: Component = {
  id: "pi",
  applies: () => true,
  plan: () => ({ steps: [] }),
  removal: () => ({}),
  checks: [piCheck],
};
