// Whether pi took a message, and which one. pi's sendUserMessage returns before pi decides, and a
// message pi drops (no model or API key, another extension's input handler, or another prompt that
// got in first while this one waited behind a compaction) leaves only an extension_error that
// extensions never see. So every hand-off carries a marker of its own, and it counts as taken only
// when pi puts that very message in front of the model (`context`) or starts it (`message_start`):
// another turn starting proves nothing about it.
import { randomBytes } from "node:crypto";
import { HandOffDeferred, HandOffNotTaken } from "../consumer/consumer.ts";

export class NotAcceptedError extends HandOffNotTaken {
  constructor(waitedMs: number) {
    super(`pi did not start a turn for the message within ${Math.round(waitedMs / 1000)} s (see pi's own error, e.g. no API key or model)`);
  }
}

/** pi dropped the message because another prompt's turn was running when it came to start it. */
export class HandOffRefusedError extends HandOffDeferred {
  constructor() {
    super("pi was running another prompt when the message came to start, and dropped it; it is offered again after that turn");
  }
}

export function newHandOffMarker(): string {
  return `gw-${randomBytes(8).toString("hex")}`;
}

/** The text pi gets: the message, then its marker on a line of its own. */
export function withHandOffMarker(text: string, marker: string): string {
  return `${text}\n\n[gateway hand-off ${marker}]`;
}

/** The text parts of a user message (string or `{ type: "text", text }` parts); "" for any other message. */
export function userMessageText(message: unknown): string {
  if (!message || typeof message !== "object" || (message as { role?: unknown }).role !== "user") return "";
  const content = (message as { content?: unknown }).content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part: unknown) => (part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string" ? (part as { text: string }).text : ""))
    .join("\n");
}

/** The user messages after the last assistant message of a context: what this model call is about. */
export function newestUserTexts(messages: readonly unknown[]): string[] {
  const texts: string[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { role?: unknown } | undefined;
    if (message?.role === "assistant") break;
    const text = userMessageText(message);
    if (text) texts.push(text);
  }
  return texts;
}

/** how many dropped hand-offs are still watched for, should pi take one of them after all */
const DROPPED_WATCHED = 16;

export interface AcceptanceWait {
  /** how long pi may stay idle without starting the message before it counts as not taken */
  timeoutMs: number;
  /** the longest wait however busy pi stays */
  maxWaitMs: number;
  recheckMs: number;
  /** pi is still working on something (a turn, a compaction, queued messages): keep waiting */
  busy(): boolean;
  /** pi took the message after all, after it counted as not taken (refused or timed out) */
  takenLate?(): void;
}

interface Waiting {
  marker: string;
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  takenLate?: () => void;
}

export class Acceptance {
  private pending: Waiting | undefined;
  private dropped: { marker: string; takenLate: () => void }[] = [];

  /**
   * Resolves once a text with `marker` is `seen`. After `timeoutMs` it rejects if pi is idle (it
   * never started the message), and keeps waiting while `busy()` says pi is working on something
   * (e.g. a compaction before the turn), up to `maxWaitMs`.
   */
  wait(marker: string, options: AcceptanceWait): Promise<void> {
    this.cancel(new Error("superseded by a newer message"));
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const expire = () => {
        const waited = Date.now() - started;
        if (options.busy() && waited < options.maxWaitMs) {
          this.pending!.timer = schedule(expire, options.recheckMs);
          return;
        }
        this.drop(new NotAcceptedError(waited));
      };
      this.pending = { marker, resolve, reject, timer: schedule(expire, options.timeoutMs), ...(options.takenLate ? { takenLate: options.takenLate } : {}) };
    });
  }

  get waiting(): boolean {
    return this.pending !== undefined;
  }

  /** a message waits to be taken, or one that counted as not taken may still turn up */
  get watching(): boolean {
    return this.pending !== undefined || this.dropped.length > 0;
  }

  /** The marker of the message waiting to be taken. */
  get marker(): string | undefined {
    return this.pending?.marker;
  }

  /** pi showed these texts to the model or started them: the waiting message is taken if one of them carries its marker. */
  seen(texts: readonly string[]): void {
    const carries = (marker: string) => texts.some((text) => text.includes(marker));
    if (this.pending && carries(this.pending.marker)) this.settle()?.resolve();
    const late = this.dropped.filter((dropped) => carries(dropped.marker));
    if (!late.length) return;
    this.dropped = this.dropped.filter((dropped) => !late.includes(dropped));
    for (const dropped of late) dropped.takenLate();
  }

  /** pi dropped the message with this marker (a newer one is not touched). */
  refused(marker: string, error: Error): void {
    if (this.pending?.marker === marker) this.drop(error);
  }

  cancel(error: Error): void {
    this.settle()?.reject(error);
  }

  /** The waiting message counts as not taken; it is still watched for, in case pi takes it after all. */
  private drop(error: Error): void {
    const pending = this.settle();
    if (!pending) return;
    if (pending.takenLate) this.dropped = [...this.dropped, { marker: pending.marker, takenLate: pending.takenLate }].slice(-DROPPED_WATCHED);
    pending.reject(error);
  }

  private settle() {
    const pending = this.pending;
    if (!pending) return undefined;
    this.pending = undefined;
    clearTimeout(pending.timer);
    return pending;
  }
}

function schedule(callback: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return timer;
}
