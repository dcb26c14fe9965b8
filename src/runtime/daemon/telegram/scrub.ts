// The bot token is a password: grammY's network errors carry the request URL (`.../bot<token>/...`),
// so every text the bridge logs or records goes through the scrubber first.
import { type Api, GrammyError, HttpError } from "grammy";
import type { Scrub } from "./token-scrubber.ts";

export { type Scrub, tokenScrubber } from "./token-scrubber.ts";

/** A Bot API failure as code and description: the Bot API's own code, or 0 for a network error. */
export interface ApiFailure {
  code: number;
  description: string;
  /** seconds to wait, on 429 */
  retryAfter?: number;
}

export function apiFailure(error: unknown, scrub: Scrub): ApiFailure {
  if (error instanceof GrammyError) {
    return {
      code: error.error_code,
      description: scrub(error.description),
      ...(error.parameters.retry_after ? { retryAfter: error.parameters.retry_after } : {}),
    };
  }
  if (error instanceof HttpError) {
    const cause = error.error instanceof Error ? `: ${error.error.message}` : "";
    return { code: 0, description: scrub(`${error.message}${cause}`) };
  }
  return { code: 0, description: scrub(error instanceof Error ? error.message : String(error)) };
}

/** grammY types its signals with the abort-controller package; Node's own AbortSignal is what it gets at run time. */
export type GrammySignal = NonNullable<Parameters<Api["getMe"]>[0]>;

export function grammySignal(signal: AbortSignal): GrammySignal {
  return signal as unknown as GrammySignal;
}
