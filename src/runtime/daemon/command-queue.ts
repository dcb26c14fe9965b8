// The daemon's one command queue: every input (Telegram, Redis batches, heartbeats) waits here
// and runs as its own turn, human inputs before background ones, first in first out within each,
// never two turns at once (the queue is the mutex; pi's own queueing would merge inputs into one
// reply). An input is acknowledged only after its reply was handed to the sink (or suppressed), so
// one that is interrupted by a shutdown is answered after the restart.
import { setTimeout as sleep } from "node:timers/promises";
import { isHeartbeatOkReply } from "../extension/heartbeat.ts";
import type { PiSession, TurnResult } from "./pi-session.ts";
import type { DaemonInput, Origin, ReplySink } from "./types.ts";

/** Telegram shows "typing…" for 5 s per chat action */
const TYPING_EVERY_MS = 4_000;
const DELIVERY_RETRY_FIRST_MS = 1_000;
const DELIVERY_RETRY_MAX_MS = 30_000;
const ACK_ATTEMPTS = 3;
/** ids answered in this process that are remembered, so none is answered twice */
const REMEMBERED_IDS = 10_000;

export const STOPPED_REPLY = "Stopped.";

export type Turns = Pick<PiSession, "runTurn" | "newSession">;

export interface QueuedInput {
  input: DaemonInput;
  /** the reply was delivered or suppressed: the source may forget the input */
  ack(): Promise<void> | void;
}

export interface Answer {
  input: DaemonInput;
  /** what was delivered to the input's origin; undefined when nothing was (HEARTBEAT_OK) */
  delivered?: string;
  /** the model's own reply (undefined when the turn failed or was stopped) */
  reply?: string;
}

export interface CommandQueueOptions {
  turns: Turns;
  sink: ReplySink;
  /** a turn running longer is aborted and reported to the owner */
  stuckTurnMs: number;
  log?: (line: string) => void;
  /** after a reply was delivered or suppressed, before the input is acknowledged */
  onAnswered?: (answer: Answer) => void;
  /** the queue or the running turn changed */
  onChange?: () => void;
}

type OriginKind = Origin["kind"];
type AbortReason = "user" | "stuck" | "shutdown";

interface Running {
  entry: QueuedInput;
  startedAt: number;
  controller: AbortController;
  abortedBy?: AbortReason;
}

export interface QueueSnapshot {
  queued: Record<OriginKind, number>;
  running?: { origin: Origin; startedAt: number };
}

export function describeOrigin(origin: Origin): string {
  switch (origin.kind) {
    case "telegram":
      return `Telegram chat ${origin.chatId}`;
    case "background":
      return "background events";
    case "heartbeat":
      return "the heartbeat";
    case "alert":
      return "an alert";
  }
}

/** Insertion-ordered, forgetting the oldest beyond its capacity. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly capacity: number) {}
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
  }
}

export class CommandQueue {
  private readonly human: QueuedInput[] = [];
  private readonly background: QueuedInput[] = [];
  /** exclusive tasks (a new session) that run between turns, before the next input */
  private readonly exclusive: { run: () => Promise<void>; cancel: (error: Error) => void }[] = [];
  private running: Running | undefined;
  /** a turn or an exclusive task holds the queue */
  private busy: Promise<void> | undefined;
  private readonly seen = new RecentIds(REMEMBERED_IDS);
  /** ids queued or running */
  private readonly active = new Set<string>();
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(private readonly options: CommandQueueOptions) {}

  /**
   * Queues an input. False when it was not queued: the queue is stopped, or the id is queued or
   * running already, or was answered in this process (then its acknowledgement is repeated).
   */
  enqueue(entry: QueuedInput): boolean {
    if (this.stopped) return false;
    const { id } = entry.input;
    if (this.seen.has(id)) {
      if (!this.active.has(id)) void this.acknowledge(entry);
      return false;
    }
    this.seen.add(id);
    this.active.add(id);
    (entry.input.priority === "human" ? this.human : this.background).push(entry);
    this.changed();
    this.pump();
    return true;
  }

  /** Runs a task under the queue's mutex: after the running turn, before the next input. */
  runExclusive(task: () => Promise<void>): Promise<void> {
    if (this.stopped) return Promise.reject(new Error("the daemon is shutting down"));
    return new Promise((resolve, reject) => {
      this.exclusive.push({ run: () => task().then(resolve, reject), cancel: reject });
      this.pump();
    });
  }

  /** Aborts the running turn (/stop): it is answered with STOPPED_REPLY and acknowledged. False when no turn ran. */
  stopTurn(): Promise<boolean> {
    return Promise.resolve(this.abortRunning("user"));
  }

  snapshot(): QueueSnapshot {
    const queued: Record<OriginKind, number> = { telegram: 0, background: 0, heartbeat: 0, alert: 0 };
    for (const entry of [...this.human, ...this.background]) queued[entry.input.origin.kind]++;
    const running = this.running;
    return { queued, ...(running ? { running: { origin: running.entry.input.origin, startedAt: running.startedAt } } : {}) };
  }

  /** A notice to the owner outside any turn (watchdog, failures). */
  async alert(text: string): Promise<void> {
    try {
      await this.options.sink.deliver({ kind: "alert" }, text);
    } catch (error) {
      this.log(`cannot deliver an alert to the owner (${(error as Error).message}): ${text}`);
    }
  }

  /**
   * Takes no more inputs and aborts the running turn without acknowledging it (it is answered
   * after the restart); resolves once the queue is idle. Queued inputs stay unacknowledged too.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    this.abortRunning("shutdown");
    for (const task of this.exclusive.splice(0)) task.cancel(new Error("the daemon is shutting down"));
    await this.busy;
  }

  private abortRunning(reason: AbortReason): boolean {
    const running = this.running;
    if (!running) return false;
    running.abortedBy ??= reason;
    running.controller.abort(new Error(`turn aborted (${reason})`));
    return true;
  }

  private pump(): void {
    if (this.busy || this.stopped) return;
    const task = this.exclusive.shift();
    const entry = task ? undefined : (this.human.shift() ?? this.background.shift());
    if (!task && !entry) return;
    const work = task ? task.run() : this.run(entry!);
    this.busy = work
      .catch((error: unknown) => this.log(`queue: ${(error as Error).message}`))
      .finally(() => {
        this.busy = undefined;
        this.changed();
        this.pump();
      });
  }

  private async run(entry: QueuedInput): Promise<void> {
    const { input } = entry;
    const running: Running = { entry, startedAt: Date.now(), controller: new AbortController() };
    this.running = running;
    this.changed();
    const typing = setInterval(() => this.showTyping(input.origin), TYPING_EVERY_MS);
    const stuck = setTimeout(() => this.abortRunning("stuck"), this.options.stuckTurnMs);
    // after the turn's prompt is on its way: the indicator's request never holds up the model's
    const firstTyping = setImmediate(() => this.showTyping(input.origin));
    let outcome: TurnResult | Error;
    try {
      outcome = await this.options.turns.runTurn(input.text, { signal: running.controller.signal });
    } catch (error) {
      outcome = error instanceof Error ? error : new Error(String(error));
    } finally {
      clearImmediate(firstTyping);
      clearInterval(typing);
      clearTimeout(stuck);
      this.running = undefined;
    }
    if (running.abortedBy === "shutdown") return;
    const answer = await this.answer(input, outcome, running.abortedBy);
    if (!answer) return;
    this.active.delete(input.id);
    this.options.onAnswered?.(answer);
    await this.acknowledge(entry);
  }

  /** Delivers what the turn came to; undefined when the daemon stopped before it was delivered. */
  private async answer(input: DaemonInput, outcome: TurnResult | Error, abortedBy: AbortReason | undefined): Promise<Answer | undefined> {
    const { origin } = input;
    const minutes = Math.max(1, Math.round(this.options.stuckTurnMs / 60_000));
    if (abortedBy === "stuck") {
      await this.alert(`The turn for ${describeOrigin(origin)} (input ${input.id}) ran longer than ${minutes} min and was aborted.`);
      if (origin.kind !== "telegram") return { input };
      const text = `Stopped: this took longer than ${minutes} min.`;
      return (await this.deliver(origin, text)) ? { input, delivered: text } : undefined;
    }
    if (abortedBy === "user") return (await this.deliver(origin, STOPPED_REPLY)) ? { input, delivered: STOPPED_REPLY } : undefined;
    if (outcome instanceof Error) {
      // pi already retried the model request; what still fails would fail again, so the input is not retried
      this.log(`turn for ${describeOrigin(origin)} (input ${input.id}) failed: ${outcome.message}`);
      if (origin.kind !== "telegram") {
        await this.alert(`The turn for ${describeOrigin(origin)} (input ${input.id}) failed and was dropped: ${outcome.message}`);
        return { input };
      }
      const text = `Sorry, that failed: ${outcome.message}`;
      return (await this.deliver(origin, text)) ? { input, delivered: text } : undefined;
    }
    const { reply } = outcome;
    if (origin.kind === "heartbeat" && isHeartbeatOkReply(reply)) return { input, reply };
    const text = reply || "(no text reply)";
    return (await this.deliver(origin, text)) ? { input, reply, delivered: text } : undefined;
  }

  /** Until the sink has it (the outbox may be down for a while); false when the daemon stopped first. */
  private async deliver(origin: Origin, text: string): Promise<boolean> {
    for (let delayMs = DELIVERY_RETRY_FIRST_MS; ; delayMs = Math.min(delayMs * 2, DELIVERY_RETRY_MAX_MS)) {
      try {
        await this.options.sink.deliver(origin, text);
        return true;
      } catch (error) {
        this.log(`cannot deliver the reply to ${describeOrigin(origin)} (${(error as Error).message}); retrying in ${delayMs / 1000} s`);
      }
      if (!(await this.pause(delayMs))) return false;
    }
  }

  /** A failed acknowledgement is retried a little; should it keep failing, the input may be answered again after a restart. */
  private async acknowledge(entry: QueuedInput): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await entry.ack();
        return;
      } catch (error) {
        if (attempt >= ACK_ATTEMPTS || !(await this.pause(attempt * DELIVERY_RETRY_FIRST_MS))) {
          this.log(`cannot acknowledge input ${entry.input.id} (${(error as Error).message}); it may be answered again after a restart`);
          return;
        }
      }
    }
  }

  /** false when the daemon stopped meanwhile */
  private async pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.stopping.signal });
      return true;
    } catch {
      return false;
    }
  }

  private showTyping(origin: Origin): void {
    try {
      this.options.sink.typing?.(origin);
    } catch {
      // best effort
    }
  }

  private changed(): void {
    this.options.onChange?.();
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}
