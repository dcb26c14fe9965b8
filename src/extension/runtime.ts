// One gateway per pi extension instance: Redis clients, the drain loop, registration, status.
// Nothing here blocks pi: session_start only kicks off a background connect.
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import type { Redis, RedisOptions } from "ioredis";
import { drainOnce, foldInbox, type DeadLetter } from "../protocol/drain.ts";
import { SMOKE_EVENT_TYPE, type GatewayEvent } from "../protocol/event.ts";
import { defaultSessionKey, sessionKeys, smokeAckKey, type SessionKeys } from "../protocol/keys.ts";
import { handOverSatelliteQueue } from "../protocol/registry-scripts.ts";
import { claimSession, newOwner, pruneDeadSessions, releaseSession, type AliveRecord } from "../protocol/sessions.ts";
import { Acceptance, HandOffRefusedError, newestUserTexts, newHandOffMarker, NotAcceptedError, userMessageText, withHandOffMarker } from "./acceptance.ts";
import { ENV_REDIS_PASSWORD, ENV_REDIS_URL, type GatewayConfig } from "./config.ts";
import {
  collapseHeartbeats,
  HeartbeatWatchdog,
  heartbeatPrompt,
  isHeartbeat,
  isHeartbeatAck,
  watchdogAlarmText,
  writeLastHeartbeat,
  type LastHeartbeat,
} from "./heartbeat.ts";
import { formatEvents } from "./message.ts";
import { readSecretsFile } from "./secrets.ts";

/** What the extension tells a pi user to run when its install is broken (the installer's self-test drops it: it rolls back instead). */
export const REPAIR_IN_PLACE = "Run `gateway-setup doctor --fix` (or npm install in the extension's folder).";

const STATUS_KEY = "gateway";
const ALIVE_TTL_SECONDS = 60;
/** also how often a refused session asks again whether the id is free */
const CLAIM_REFRESH_MS = 20_000;
/** how long pi may take to start the turn for a handed-off message before it counts as refused */
const ACCEPT_TIMEOUT_MS = 60_000;
/** ... unless pi is visibly busy (e.g. compacting before the turn): then up to this long */
const ACCEPT_MAX_WAIT_MS = 10 * 60_000;
/** a Redis restart of a second or two only shows in the status line */
const OUTAGE_NOTICE_AFTER_MS = 3_000;
/** after a failed drain: retry after this, doubling up to the maximum */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** after pi did not take a message: retry after this, doubling up to the maximum */
const REFUSED_RETRY_FIRST_MS = 60_000;
const REFUSED_RETRY_MAX_MS = 15 * 60_000;
/**
 * pi tells extensions when a compaction starts and when one succeeded, not when one failed: a
 * compaction that started this long ago no longer holds hand-offs back (an overlap with it is pi's
 * to survive; the marker still decides whether pi took the message)
 */
const COMPACTION_HOLD_MAX_MS = 2 * 60_000;

class PiBusyError extends Error {
  constructor() {
    super("pi is in a turn or compacting; the batch waits until it is done");
  }
}

type RedisConstructor = new (url: string, options: RedisOptions) => Redis;
type State = "stopped" | "connecting" | "listening" | "unavailable" | "auth-failed" | "forbidden" | "no-ioredis" | "refused";

export interface RuntimeOptions {
  /**
   * other session ids whose queues this session consumes too, folded into its own: the central
   * session takes `main`, so producers written for tier 1 keep working on every tier
   */
  inboxes?: string[];
  /** a tier-3 satellite: what it leaves queued at a clean shutdown goes to the central session */
  satellite?: boolean;
  /**
   * this session is where events go when no central session is alive (the tier-1 `main`, the
   * central `gateway`): it says so in Redis for routing. Satellites and the installer's
   * throw-away self-test are not.
   */
  announceDefault: boolean;
}

const AUTH_ERROR = /NOAUTH|WRONGPASS|invalid password|invalid username-password/i;
/** an ACL user without a command or key the gateway needs: retrying does not help, the user's rights must change */
const PERMISSION_ERROR = /NOPERM/;

export class GatewayRuntime {
  private ctx: ExtensionContext | undefined;
  private state: State = "stopped";
  private started = false;
  private stopped = false;
  private commands: Redis | undefined;
  private subscriber: Redis | undefined;
  private timers: NodeJS.Timeout[] = [];
  private outageTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;
  private notTakenNoticed = false;
  private readonly acceptance = new Acceptance();
  private draining = false;
  private drainWanted = false;
  private agentRunning = false;
  /**
   * compactions pi started (session_before_compact) and has not been seen to end, and since when.
   * pi passes agent events to extensions in order, after the compaction that follows a turn, so
   * agent_start and agent_end also mean that one is over, failed or not.
   */
  private compactions = 0;
  private compactingSince = 0;
  /** ids handed to pi whose acknowledgement has not landed in Redis yet: never handed to pi again */
  private readonly handedOff = new Set<string>();
  private outageNoticed = false;
  private subscribed = false;
  /** this pi holds the session id's claim (see protocol/sessions.ts) */
  private owner = false;
  private refused = false;
  private readonly identity: AliveRecord = newOwner(Date.now());
  private lastError: string | undefined;
  private delivered = 0;
  private duplicates = 0;
  private deadLettered = 0;
  private watchdog: HeartbeatWatchdog | undefined;
  private pendingAlarm: string | undefined;
  /** the heartbeat handed to pi in the turn now running, until that turn ends */
  private heartbeatInTurn: LastHeartbeat | undefined;
  readonly keys: SessionKeys;
  private readonly inboxes: { id: string; keys: SessionKeys }[];

  constructor(
    private readonly pi: ExtensionAPI,
    private readonly config: GatewayConfig,
    private readonly env: Record<string, string | undefined> = process.env,
    private readonly options: RuntimeOptions = { announceDefault: false },
  ) {
    this.keys = sessionKeys(config.prefix, config.sessionId);
    this.inboxes = (options.inboxes ?? []).filter((id) => id !== config.sessionId).map((id) => ({ id, keys: sessionKeys(config.prefix, id) }));
  }

  private get channels(): string[] {
    return [this.keys.notify, ...this.inboxes.map((inbox) => inbox.keys.notify)];
  }

  /** session_start: idempotent; may fire several times (reload/new/resume/fork). */
  start(ctx: ExtensionContext): void {
    this.ctx = ctx;
    if (this.started || this.stopped) return;
    this.started = true;
    this.setState("connecting");
    void this.connect();
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
    if (this.compactions === 0) this.requestDrain();
  }

  private get compacting(): boolean {
    return this.compactions > 0 && Date.now() - this.compactingSince < COMPACTION_HOLD_MAX_MS;
  }

  /** pi can start a message now: no turn running, no compaction under way. */
  private get readyForHandOff(): boolean {
    return !this.agentRunning && (this.ctx?.isIdle() ?? true) && !this.compacting;
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
      if (this.pendingAlarm && this.readyForHandOff) this.sendAlarm(this.pendingAlarm);
      else this.requestDrain();
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.outageTimer);
    clearTimeout(this.retryTimer);
    this.timers = [];
    this.acceptance.cancel(new Error("pi is shutting down; the batch stays in Redis for the next start"));
    const { commands, subscriber } = this;
    this.commands = this.subscriber = undefined;
    if (commands && commands.status === "ready" && this.owner) {
      await atMost(this.release(commands), 1000);
    }
    await Promise.all([commands, subscriber].map((client) => client && closeClient(client)));
    this.state = "stopped";
  }

  async statusReport(): Promise<string> {
    const lines = [
      `session ${this.config.sessionId} · ${this.state}${this.lastError ? ` (${this.lastError})` : ""}`,
      `redis ${this.redisUrl()} · queue ${this.keys.events}`,
      `delivered ${this.delivered} · duplicates suppressed ${this.duplicates} · dead-lettered ${this.deadLettered}`,
    ];
    const commands = this.commands;
    if (commands?.status === "ready") {
      const [pending, inFlight, dead] = await Promise.all([
        commands.llen(this.keys.events),
        commands.llen(this.keys.processing),
        commands.llen(this.keys.deadLetter),
      ]);
      lines.push(`pending ${pending} · in flight ${inFlight} · dead letters ${dead}`);
    }
    return lines.join("\n");
  }

  private redisUrl(): string {
    return this.env[ENV_REDIS_URL] || this.config.redisUrl;
  }

  private async connect(): Promise<void> {
    let Redis: RedisConstructor;
    try {
      const mod = (await import("ioredis")) as unknown as { Redis?: RedisConstructor; default?: RedisConstructor };
      Redis = (mod.Redis ?? mod.default)!;
    } catch (error) {
      this.setState("no-ioredis");
      this.notify(
        `gateway: cannot load ioredis (${(error as Error).message.split("\n")[0]}), so Redis events are not delivered. ${REPAIR_IN_PLACE}`,
        "warning",
      );
      return;
    }
    if (this.stopped) return;
    const password = this.env[ENV_REDIS_PASSWORD] || this.config.redisPassword || readSecretsFile(this.config.secretsFile)[ENV_REDIS_PASSWORD];
    const { url, credentials } = withoutCredentials(this.redisUrl(), password);
    const options: RedisOptions = {
      ...credentials,
      connectTimeout: 5000,
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => Math.min(200 * times, 5000),
      ...(url.startsWith("rediss:") ? { tls: {} } : {}),
    };
    const name = `gateway:${this.config.sessionId}`;
    this.commands = new Redis(url, { ...options, connectionName: `${name}:commands` });
    this.subscriber = new Redis(url, { ...options, connectionName: `${name}:subscriber` });
    for (const client of [this.commands, this.subscriber]) {
      client.on("error", (error: Error) => this.onRedisError(error));
    }
    this.subscriber.on("reconnecting", () => {
      this.subscribed = false;
      this.onRedisError(new Error(this.lastError ?? "connection lost"));
    });
    this.commands.on("ready", () => {
      void this.register().then(() => {
        this.showListeningWhenReady();
        this.requestDrain();
      });
    });
    this.subscriber.on("ready", () => this.subscribeWhenOwner());
    this.subscriber.on("message", () => this.requestDrain());
    this.timers.push(
      setInterval(() => this.requestDrain(), this.config.pollIntervalMs),
      setInterval(() => void this.register(), this.config.claimRefreshMs ?? CLAIM_REFRESH_MS),
    );
    if (this.config.heartbeat) {
      const watchdog = new HeartbeatWatchdog(this.config.heartbeat, (silentForMs) => this.raiseAlarm(silentForMs));
      this.watchdog = watchdog;
      this.timers.push(setInterval(() => this.owner && watchdog.check(), watchdog.checkEveryMs));
    }
    for (const timer of this.timers) timer.unref();
  }

  /** Only the owner of the session id listens, so doctor's listener count means something. */
  private subscribeWhenOwner(): void {
    const subscriber = this.subscriber;
    if (!this.owner || this.subscribed || subscriber?.status !== "ready") return;
    subscriber
      .subscribe(...this.channels)
      .then(() => {
        if (!this.owner) return void subscriber.unsubscribe(...this.channels).catch(() => {});
        this.subscribed = true;
        this.showListeningWhenReady();
        this.requestDrain();
      })
      .catch((error: Error) => this.onRedisError(error));
  }

  /** "listening" means both clients work: the subscription is up and commands can run. */
  private showListeningWhenReady(): void {
    if (!this.owner || !this.subscribed || this.commands?.status !== "ready" || this.state === "listening") return;
    if (this.outageNoticed) this.notify(`gateway: Redis is back; listening on ${this.keys.notify}`, "info");
    this.outageNoticed = false;
    this.lastError = undefined;
    this.setState("listening");
  }

  /** The status line shows an outage at once; a notice follows only if it lasts. A refused password is said at once. */
  private onRedisError(error: Error): void {
    if (this.stopped) return;
    this.lastError = error.message.split("\n")[0];
    if (AUTH_ERROR.test(error.message)) {
      if (this.state === "auth-failed") return;
      this.setState("auth-failed");
      const where = this.config.secretsFile ? `${ENV_REDIS_PASSWORD}=... in ${this.config.secretsFile} (mode 0600)` : `${ENV_REDIS_PASSWORD} in pi's environment`;
      this.notify(`gateway: Redis at ${this.redisUrl()} refused the password (${this.lastError}). Put the right password in ${where}, then /reload.`, "error");
      return;
    }
    if (PERMISSION_ERROR.test(error.message)) {
      if (this.state === "forbidden") return;
      this.setState("forbidden");
      this.notify(
        `gateway: the Redis user at ${this.redisUrl()} may not do what the gateway needs (${this.lastError}). ` +
          `It needs EVAL/EVALSHA, list, set, string and pub/sub commands on the keys and channels ${this.config.prefix}:*; grant them (ACL SETUSER), then /reload.`,
        "error",
      );
      return;
    }
    if (this.state !== "listening" && this.state !== "connecting") return;
    this.setState("unavailable");
    clearTimeout(this.outageTimer);
    this.outageTimer = setTimeout(() => {
      if (this.state !== "unavailable" || this.stopped) return;
      this.outageNoticed = true;
      this.notify(`gateway: Redis at ${this.redisUrl()} is unavailable (${this.lastError}); retrying. Events wait in Redis meanwhile.`, "warning");
    }, OUTAGE_NOTICE_AFTER_MS);
    this.outageTimer.unref();
  }

  /**
   * Claims this session's id, and keeps refreshing the claim. Refused while another live pi holds
   * it: then this pi leaves the queue alone (two sessions never compete for one queue) and asks
   * again on every refresh, taking over once the holder is gone.
   */
  private async register(): Promise<void> {
    const commands = this.commands;
    if (!commands || commands.status !== "ready" || this.stopped) return;
    try {
      const claim = await claimSession(commands, this.config.prefix, this.config.sessionId, ALIVE_TTL_SECONDS, this.identity);
      if (this.stopped) return;
      if (!claim.ok) return this.refuse(claim.holder);
      // refreshed with every claim: a Redis restart without persistence forgets it
      if (this.options.announceDefault) await commands.set(defaultSessionKey(this.config.prefix), this.config.sessionId);
      if (this.owner) return;
      this.owner = true;
      if (this.refused) this.notify(`gateway: "${this.config.sessionId}" is free again; this session receives its events now.`, "info");
      this.refused = false;
      if (this.state === "refused" || this.state === "auth-failed" || this.state === "forbidden") this.setState("connecting");
      await pruneDeadSessions(commands, this.config.prefix).catch(() => []);
      this.subscribeWhenOwner();
      this.showListeningWhenReady();
      this.requestDrain();
    } catch (error) {
      this.onRedisError(error as Error);
    }
  }

  private refuse(holder: AliveRecord | undefined): void {
    const lostClaim = this.owner;
    this.owner = false;
    if (this.subscribed) {
      this.subscribed = false;
      void this.subscriber?.unsubscribe(...this.channels).catch(() => {});
    }
    if (this.refused && !lostClaim) return;
    this.refused = true;
    const who = holder ? `pid ${holder.pid} on ${holder.host}` : "another pi session";
    this.setState("refused", `gateway: ${this.config.sessionId} belongs to ${who}`);
    this.notify(
      `gateway: ${who} already receives the events for "${this.config.sessionId}"; this session leaves them alone ` +
        "and takes over if that session ends.",
      "error",
    );
  }

  /** Gives the session id back; a satellite's id is never used again, so its leftovers go to the central session. */
  private async release(commands: Redis): Promise<void> {
    const released = await releaseSession(commands, this.config.prefix, this.config.sessionId, this.identity);
    if (released && this.options.satellite) await handOverSatelliteQueue(commands, this.config.prefix, this.config.sessionId);
  }

  /**
   * Drains when pi can take a message: idle and not compacting. Otherwise remembers that a drain
   * is wanted and does it after the turn or the compaction.
   */
  private requestDrain(): void {
    if (this.stopped || !this.commands || !this.owner) return;
    if (this.draining || this.acceptance.waiting || !this.readyForHandOff) {
      this.drainWanted = true;
      return;
    }
    this.drainWanted = false;
    this.draining = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.drain().finally(() => {
      this.draining = false;
      if (this.pendingAlarm && !this.acceptance.waiting && this.readyForHandOff) return this.sendAlarm(this.pendingAlarm);
      // a turn in progress drains at agent_end, a compaction when it ends; a failed drain waits for its retry timer
      if (this.drainWanted && !this.acceptance.waiting && !this.retryTimer) setImmediate(() => this.requestDrain());
    });
  }

  private async drain(): Promise<void> {
    const commands = this.commands;
    if (!commands || commands.status !== "ready") return;
    try {
      for (const inbox of this.inboxes) await foldInbox(commands, inbox, this.keys, this.config.prefix);
      const result = await drainOnce(commands, this.keys, {
        maxBatch: this.config.maxBatch,
        dedupeTtlSeconds: this.config.dedupeTtlSeconds,
        handOff: (events) => this.handOff(events),
        handedOff: this.handedOff,
      });
      this.retryDelayMs = 0;
      this.notTakenNoticed = false;
      this.lastError = undefined;
      this.duplicates += result.duplicates;
      if (result.deadLettered.length) this.reportDeadLetters(result.deadLettered);
      const acknowledged = [...result.delivered, ...result.acknowledgedAgain];
      if (acknowledged.length) await this.acknowledgeSmoke(commands, acknowledged);
      if (result.remaining > 0) this.drainWanted = true;
      if (this.state === "listening") this.setState("listening"); // refreshes the delivered count
    } catch (error) {
      this.drainWanted = true;
      if (error instanceof PiBusyError || error instanceof HandOffRefusedError) return;
      if (error instanceof NotAcceptedError) {
        const delayMs = this.scheduleRetry(REFUSED_RETRY_FIRST_MS, REFUSED_RETRY_MAX_MS);
        if (!this.notTakenNoticed) {
          this.notTakenNoticed = true;
          this.notify(`gateway: ${error.message}. The events stay queued in Redis; trying again in ${Math.round(delayMs / 1000)} s.`, "warning");
        }
        return;
      }
      this.lastError = (error as Error).message.split("\n")[0];
      this.scheduleRetry(RETRY_FIRST_MS, RETRY_MAX_MS);
    }
  }

  /** Retries a failed drain later, backing off; an agent_end or a new event may drain sooner. */
  private scheduleRetry(firstMs: number, maxMs: number): number {
    if (this.stopped) return 0;
    this.retryDelayMs = this.retryDelayMs ? Math.min(this.retryDelayMs * 2, maxMs) : firstMs;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.requestDrain();
    }, this.retryDelayMs);
    this.retryTimer.unref();
    return this.retryDelayMs;
  }

  /** Resolves once pi took the batch (see acceptance.ts); the installer's smoke events never reach the model. */
  private handOff(events: GatewayEvent[]): Promise<void> {
    // a turn or a compaction started while this batch was being claimed: leave it unacknowledged
    // in `processing`, the drain after it hands it over first
    if (this.acceptance.waiting || !this.readyForHandOff) throw new PiBusyError();
    const forModel = events.filter((event) => event.type !== SMOKE_EVENT_TYPE);
    if (!forModel.length) return Promise.resolve();
    // a batch that counted as not taken stays in `processing`; should pi take it after all, the
    // next drain acknowledges it instead of handing it off again
    const accepted = this.sendToPi(this.messageFor(forModel), () => {
      for (const event of events) this.handedOff.add(event.id);
    });
    this.delivered += forModel.length;
    return accepted.catch((error: unknown) => {
      this.delivered -= forModel.length;
      throw error;
    });
  }

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
    const heartbeatConfig = this.config.heartbeat;
    if (!heartbeatConfig) return formatEvents(events, this.config.sessionId);
    const { events: kept, collapsed } = collapseHeartbeats(events);
    const heartbeat = kept.find(isHeartbeat);
    const others = kept.filter((event) => !isHeartbeat(event));
    const parts = others.length ? [formatEvents(others, this.config.sessionId)] : [];
    if (heartbeat) {
      parts.push(heartbeatPrompt(heartbeat, heartbeatConfig.checklistFile, collapsed));
      this.heartbeatInTurn = { eventId: heartbeat.id, ts: heartbeat.ts, deliveredAt: Date.now() };
      this.writeHeartbeatRecord(this.heartbeatInTurn);
      this.watchdog?.heartbeat();
    }
    return parts.join("\n\n");
  }

  private writeHeartbeatRecord(record: LastHeartbeat): void {
    try {
      writeLastHeartbeat(this.config.heartbeat!.lastHeartbeatFile, record);
    } catch (error) {
      this.notify(`gateway: cannot write ${this.config.heartbeat!.lastHeartbeatFile} (${(error as Error).message}); the tripwire will think heartbeats stopped`, "warning");
    }
  }

  private raiseAlarm(silentForMs: number): void {
    const text = watchdogAlarmText(this.config.heartbeat!, silentForMs);
    this.notify(text, "error");
    if (this.acceptance.waiting || this.draining || !this.readyForHandOff) this.pendingAlarm = text;
    else this.sendAlarm(text);
  }

  /**
   * The alarm is not in Redis: if pi does not take it, the notice already shown is what remains.
   * One pi dropped for another prompt's turn goes again after that turn.
   */
  private sendAlarm(text: string): void {
    this.pendingAlarm = undefined;
    this.sendToPi(text).catch((error: unknown) => {
      if (error instanceof HandOffRefusedError) this.pendingAlarm ??= text;
    });
  }

  private async acknowledgeSmoke(commands: Redis, events: GatewayEvent[]): Promise<void> {
    const smoke = events.filter((event) => event.type === SMOKE_EVENT_TYPE);
    if (!smoke.length) return;
    const multi = commands.multi();
    for (const event of smoke) multi.set(smokeAckKey(this.config.prefix, event.id), String(Date.now()), "EX", 600);
    await multi.exec();
  }

  private reportDeadLetters(letters: DeadLetter[]): void {
    this.deadLettered += letters.length;
    const reasons = [...new Set(letters.map((letter) => letter.reason))].slice(0, 3).join("; ");
    this.notify(`gateway: ${letters.length} malformed event(s) moved to ${this.keys.deadLetter} (${reasons})`, "warning");
  }

  private setState(state: State, detail?: string): void {
    this.state = state;
    const text: Record<State, string> = {
      refused: detail ?? "gateway: another session receives these events",
      stopped: "gateway: stopped",
      connecting: "gateway: connecting to Redis…",
      listening: `gateway: listening on ${this.config.sessionId}${this.delivered ? ` (${this.delivered} delivered)` : ""}`,
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

  private notify(message: string, type: "info" | "warning" | "error"): void {
    try {
      this.ctx?.ui.notify(message, type);
    } catch {
      // as above
    }
  }
}

/** Waits for `work`, but at most `ms`; the timer never outlives the wait. */
async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

async function closeClient(client: Redis): Promise<void> {
  client.removeAllListeners("ready");
  if (client.status === "ready") await atMost(client.quit(), 1000);
  client.disconnect();
}

/**
 * The URL without its user and password, and both as client options. ioredis lets a URL's
 * credentials override the options, so `redis://alice@host` with the password in the options
 * authenticated as alice with an empty password (WRONGPASS) and ACL users could never connect.
 */
export function withoutCredentials(redisUrl: string, password: string | undefined): { url: string; credentials: { username?: string; password?: string } } {
  let parsed: URL;
  try {
    parsed = new URL(redisUrl);
  } catch {
    return { url: redisUrl, credentials: password ? { password } : {} };
  }
  const username = decodeURIComponent(parsed.username);
  const chosenPassword = password || decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString(), credentials: { ...(username ? { username } : {}), ...(chosenPassword ? { password: chosenPassword } : {}) } };
}
