// The pi side of the gateway: hands the consumer's batches to pi and tells when pi took them (see
// acceptance.ts), holds them back while pi is in a turn or compacting, carries the heartbeat
// checklist and the watchdog's alarm, and shows the consumer's state in pi's status line.
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import { type ConsumerOptions, type ConsumerState, HandOffDeferred, QueueConsumer } from "../consumer/consumer.ts";
import type { GatewayEvent } from "../protocol/event.ts";
import { Acceptance, HandOffRefusedError, newestUserTexts, newHandOffMarker, userMessageText, withHandOffMarker } from "./acceptance.ts";
import type { GatewayConfig } from "./config.ts";
import { HeartbeatWatchdog, isHeartbeatAck, type LastHeartbeat, watchdogAlarmText, writeLastHeartbeat } from "./heartbeat.ts";
import { batchMessage } from "./message.ts";

const STATUS_KEY = "gateway";
/** how long pi may take to start the turn for a handed-off message before it counts as not taken */
const ACCEPT_TIMEOUT_MS = 60_000;
/** ... unless pi is visibly busy (e.g. compacting before the turn): then up to this long */
const ACCEPT_MAX_WAIT_MS = 10 * 60_000;
/**
 * pi tells extensions when a compaction starts and when one succeeded, not when one failed: a
 * compaction that started this long ago no longer holds hand-offs back (an overlap with it is pi's
 * to survive; the marker still decides whether pi took the message)
 */
const COMPACTION_HOLD_MAX_MS = 2 * 60_000;

class PiBusyError extends HandOffDeferred {
  constructor() {
    super("pi is in a turn or compacting; the batch waits until it is done");
  }
}

export class PiHost {
  private ctx: ExtensionContext | undefined;
  private started = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly acceptance = new Acceptance();
  private agentRunning = false;
  /**
   * compactions pi started (session_before_compact) and has not been seen to end, and since when.
   * pi passes agent events to extensions in order, after the compaction that follows a turn, so
   * agent_start and agent_end also mean that one is over, failed or not.
   */
  private compactions = 0;
  private compactingSince = 0;
  private watchdog: HeartbeatWatchdog | undefined;
  private pendingAlarm: string | undefined;
  /** the heartbeat handed to pi in the turn now running, until that turn ends */
  private heartbeatInTurn: LastHeartbeat | undefined;
  readonly consumer: QueueConsumer;

  constructor(
    private readonly pi: ExtensionAPI,
    private readonly config: GatewayConfig,
    env: Record<string, string | undefined> = process.env,
    options: ConsumerOptions = { announceDefault: false },
  ) {
    this.consumer = new QueueConsumer(config, this, env, options);
  }

  /** session_start: idempotent; may fire several times (reload/new/resume/fork). */
  start(ctx: ExtensionContext): void {
    this.ctx = ctx;
    if (this.started || this.stopped) return;
    this.started = true;
    this.consumer.start();
    if (this.config.heartbeat) {
      const watchdog = new HeartbeatWatchdog(this.config.heartbeat, (silentForMs) => this.raiseAlarm(silentForMs));
      this.watchdog = watchdog;
      // only the session that holds the id hears heartbeats, so only it may miss them
      this.timers.push(setInterval(() => this.consumer.owner && watchdog.check(), watchdog.checkEveryMs));
    }
    for (const timer of this.timers) timer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.acceptance.cancel(new Error("pi is shutting down; the batch stays in Redis for the next start"));
    await this.consumer.stop();
  }

  statusReport(): Promise<string> {
    return this.consumer.statusReport();
  }

  /** agent_start: a turn runs, whose ever it is (taking a message is told by its marker, not by this). */
  onAgentStart(): void {
    this.agentRunning = true;
    this.compactions = 0;
  }

  /** message_start: a user message pi starts may be the one handed off. */
  onMessageStart(message: unknown): void {
    if (this.acceptance.watching) this.acceptance.seen([userMessageText(message)]);
  }

  /** context: what pi is about to send to the model; the newest user messages may hold the one handed off. */
  onContext(messages: readonly unknown[]): void {
    if (this.acceptance.watching) this.acceptance.seen(newestUserTexts(messages));
  }

  /**
   * before_agent_start for the message handed off: pi is about to start it, which fails if another
   * prompt's turn already runs. If the same turn still runs a moment later, and the message did not
   * reach the model, pi dropped it.
   */
  onBeforeAgentStart(prompt: string): void {
    const marker = this.acceptance.marker;
    if (!marker || !prompt.includes(marker)) return;
    const runningTurn = this.ctx?.signal;
    if (!runningTurn) return;
    setImmediate(() => {
      if (this.ctx?.signal === runningTurn) this.acceptance.refused(marker, new HandOffRefusedError());
    });
  }

  onCompactionStart(): void {
    if (this.compactions++ === 0) this.compactingSince = Date.now();
  }

  /** session_compact: a compaction succeeded */
  onCompactionEnd(): void {
    if (this.compactions > 0) this.compactions--;
    if (this.compactions === 0) this.consumer.requestDrain();
  }

  /** agent_end: the turn is over, so the next batch may go once pi has wound down. */
  onAgentEnd(ctx: ExtensionContext, messages?: unknown): void {
    this.ctx = ctx;
    this.agentRunning = false;
    this.compactions = 0;
    const heartbeat = this.heartbeatInTurn;
    this.heartbeatInTurn = undefined;
    if (heartbeat && this.config.heartbeat && isHeartbeatAck(messages)) {
      this.writeHeartbeatRecord({ ...heartbeat, acknowledgedAt: Date.now() });
    }
    // pi only picks up a new message once its agent loop has wound down after agent_end (and a
    // compaction it runs after the turn has announced itself)
    setImmediate(() => {
      if (this.stopped) return;
      if (!this.sendPendingAlarm()) this.consumer.requestDrain();
    });
  }

  private get compacting(): boolean {
    return this.compactions > 0 && Date.now() - this.compactingSince < COMPACTION_HOLD_MAX_MS;
  }

  /** pi can start a message now: no turn running, no compaction under way. */
  private get piReady(): boolean {
    return !this.agentRunning && (this.ctx?.isIdle() ?? true) && !this.compacting;
  }

  // --- ConsumerHost ---

  canTake(): boolean {
    return !this.acceptance.waiting && this.piReady;
  }

  /** Resolves once pi took the batch's own message (see acceptance.ts). */
  take(events: GatewayEvent[], takenLate: () => void): Promise<void> {
    if (!this.canTake()) return Promise.reject(new PiBusyError());
    return this.sendToPi(this.messageFor(events), takenLate);
  }

  afterDrain(): boolean {
    return this.sendPendingAlarm();
  }

  stateChanged(state: ConsumerState, detail?: string): void {
    const sessionId = this.config.sessionId;
    const delivered = this.consumer.delivered;
    const text: Record<ConsumerState, string> = {
      refused: detail ?? "gateway: another session receives these events",
      stopped: "gateway: stopped",
      connecting: "gateway: connecting to Redis…",
      listening: `gateway: listening on ${sessionId}${delivered ? ` (${delivered} delivered)` : ""}`,
      unavailable: "gateway: Redis unavailable, retrying",
      "auth-failed": "gateway: Redis refused the password",
      forbidden: "gateway: the Redis user lacks permissions",
      "no-ioredis": "gateway: ioredis missing",
    };
    try {
      this.ctx?.ui.setStatus(STATUS_KEY, text[state]);
    } catch {
      // a UI that cannot show a status must not break delivery
    }
  }

  notify(message: string, type: "info" | "warning" | "error"): void {
    try {
      this.ctx?.ui.notify(message, type);
    } catch {
      // as above
    }
  }

  // --- hand-off ---

  private sendToPi(text: string, takenLate?: () => void): Promise<void> {
    const marker = newHandOffMarker();
    const accepted = this.acceptance.wait(marker, {
      timeoutMs: this.config.acceptTimeoutMs ?? ACCEPT_TIMEOUT_MS,
      maxWaitMs: ACCEPT_MAX_WAIT_MS,
      recheckMs: 5_000,
      busy: () => !(this.ctx?.isIdle() ?? true) || this.compacting || (this.ctx?.hasPendingMessages() ?? false),
      ...(takenLate ? { takenLate } : {}),
    });
    this.pi.sendUserMessage(withHandOffMarker(text, marker), { deliverAs: "followUp" });
    return accepted;
  }

  /** One message for the whole batch; with heartbeats on, they collapse and carry the checklist. */
  private messageFor(events: GatewayEvent[]): string {
    const { text, heartbeat } = batchMessage(events, this.config.sessionId, this.config.heartbeat?.checklistFile);
    if (heartbeat) {
      this.heartbeatInTurn = { eventId: heartbeat.id, ts: heartbeat.ts, deliveredAt: Date.now() };
      this.writeHeartbeatRecord(this.heartbeatInTurn);
      this.watchdog?.heartbeat();
    }
    return text;
  }

  private writeHeartbeatRecord(record: LastHeartbeat): void {
    try {
      writeLastHeartbeat(this.config.heartbeat!.lastHeartbeatFile, record);
    } catch (error) {
      this.notify(
        `gateway: cannot write ${this.config.heartbeat!.lastHeartbeatFile} (${(error as Error).message}); the tripwire will think heartbeats stopped`,
        "warning",
      );
    }
  }

  private raiseAlarm(silentForMs: number): void {
    const text = watchdogAlarmText(this.config.heartbeat!, silentForMs);
    this.notify(text, "error");
    this.pendingAlarm = text;
    this.sendPendingAlarm();
  }

  /**
   * The alarm is not in Redis: if pi does not take it, the notice already shown is what remains.
   * One pi dropped for another prompt's turn goes again after that turn. True when it went now.
   */
  private sendPendingAlarm(): boolean {
    const text = this.pendingAlarm;
    if (!text || !this.canTake() || this.consumer.draining) return false;
    this.pendingAlarm = undefined;
    this.sendToPi(text).catch((error: unknown) => {
      if (error instanceof HandOffRefusedError) this.pendingAlarm ??= text;
    });
    return true;
  }
}
