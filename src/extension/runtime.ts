// One gateway per pi extension instance: Redis clients, the drain loop, registration, status.
// Nothing here blocks pi: session_start only kicks off a background connect.
import type { ExtensionAPI, ExtensionContext } from "@mariozechner/pi-coding-agent";
import type { Redis, RedisOptions } from "ioredis";
import { drainOnce, type DeadLetter } from "../protocol/drain.ts";
import type { GatewayEvent } from "../protocol/event.ts";
import { aliveKey, sessionKeys, sessionsRegistryKey, smokeAckKey, type SessionKeys } from "../protocol/keys.ts";
import { claimSession, ownerToken, parseAlive, pruneDeadSessions, type AliveRecord } from "../protocol/sessions.ts";
import { ENV_REDIS_PASSWORD, ENV_REDIS_URL, type GatewayConfig } from "./config.ts";
import {
  collapseHeartbeats,
  HeartbeatWatchdog,
  heartbeatPrompt,
  isHeartbeat,
  isHeartbeatAck,
  writeLastHeartbeat,
  type LastHeartbeat,
} from "./heartbeat.ts";
import { formatEvents } from "./message.ts";
import { readSecretsFile } from "./secrets.ts";

const STATUS_KEY = "gateway";
const ALIVE_TTL_SECONDS = 60;
const ALIVE_REFRESH_MS = 20_000;
/** a hand-off that never started a turn (pi refused it) stops blocking the drain after this */
const TURN_START_GRACE_MS = 30_000;
/** a Redis restart of a second or two only shows in the status line */
const OUTAGE_NOTICE_AFTER_MS = 3_000;

class PiBusyError extends Error {
  constructor() {
    super("pi started a turn; the batch waits for agent_end");
  }
}

type RedisConstructor = new (url: string, options: RedisOptions) => Redis;
type State = "stopped" | "connecting" | "listening" | "unavailable" | "no-ioredis" | "refused";

export class GatewayRuntime {
  private ctx: ExtensionContext | undefined;
  private state: State = "stopped";
  private started = false;
  private stopped = false;
  private commands: Redis | undefined;
  private subscriber: Redis | undefined;
  private timers: NodeJS.Timeout[] = [];
  private turnGrace: NodeJS.Timeout | undefined;
  private outageTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private drainWanted = false;
  private awaitingTurn = false;
  private agentRunning = false;
  private outageNoticed = false;
  private subscribed = false;
  /** this pi holds the session id's claim (see protocol/sessions.ts) */
  private owner = false;
  private refused = false;
  private readonly startedAt = Date.now();
  private lastError: string | undefined;
  private delivered = 0;
  private duplicates = 0;
  private deadLettered = 0;
  private watchdog: HeartbeatWatchdog | undefined;
  private pendingAlarm: string | undefined;
  /** the heartbeat handed to pi in the turn now running, until that turn ends */
  private heartbeatInTurn: LastHeartbeat | undefined;
  readonly keys: SessionKeys;

  constructor(
    private readonly pi: ExtensionAPI,
    private readonly config: GatewayConfig,
    private readonly env: Record<string, string | undefined> = process.env,
  ) {
    this.keys = sessionKeys(config.prefix, config.sessionId);
  }

  /** session_start: idempotent; may fire several times (reload/new/resume/fork). */
  start(ctx: ExtensionContext): void {
    this.ctx = ctx;
    if (this.started || this.stopped) return;
    this.started = true;
    this.setState("connecting");
    void this.connect();
  }

  onAgentStart(): void {
    this.agentRunning = true;
    this.awaitingTurn = false;
    clearTimeout(this.turnGrace);
  }

  /** agent_end: the turn that a hand-off started is over, so the next batch may go. */
  onAgentEnd(ctx: ExtensionContext, messages?: unknown): void {
    this.ctx = ctx;
    this.agentRunning = false;
    this.awaitingTurn = false;
    const heartbeat = this.heartbeatInTurn;
    this.heartbeatInTurn = undefined;
    if (heartbeat && this.config.heartbeat && isHeartbeatAck(messages)) {
      this.writeHeartbeatRecord({ ...heartbeat, acknowledgedAt: Date.now() });
    }
    // pi only picks up a new message once its agent loop has wound down after agent_end
    setImmediate(() => {
      if (this.stopped) return;
      if (this.pendingAlarm) this.sendAlarm(this.pendingAlarm);
      else this.requestDrain(true);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.turnGrace);
    clearTimeout(this.outageTimer);
    this.timers = [];
    const { commands, subscriber } = this;
    this.commands = this.subscriber = undefined;
    if (commands && commands.status === "ready") {
      await Promise.race([this.unregister(commands).catch(() => {}), delay(1000)]);
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
        `gateway: cannot load ioredis (${(error as Error).message.split("\n")[0]}), so Redis events are not delivered. ` +
          "Run `gateway-setup doctor --fix` (or npm install in the extension's folder).",
        "warning",
      );
      return;
    }
    if (this.stopped) return;
    const password = this.env[ENV_REDIS_PASSWORD] || this.config.redisPassword || readSecretsFile(this.config.secretsFile)[ENV_REDIS_PASSWORD];
    const options: RedisOptions = {
      ...(password ? { password } : {}),
      connectTimeout: 5000,
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => Math.min(200 * times, 5000),
      ...(this.redisUrl().startsWith("rediss:") ? { tls: {} } : {}),
    };
    const name = `gateway:${this.config.sessionId}`;
    this.commands = new Redis(this.redisUrl(), { ...options, connectionName: `${name}:commands` });
    this.subscriber = new Redis(this.redisUrl(), { ...options, connectionName: `${name}:subscriber` });
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
    this.subscriber.on("ready", () => this.onSubscriberReady());
    this.subscriber.on("message", () => this.requestDrain());
    this.timers.push(
      setInterval(() => this.requestDrain(), this.config.pollIntervalMs),
      setInterval(() => void this.register(), ALIVE_REFRESH_MS),
    );
    if (this.config.heartbeat) {
      const watchdog = new HeartbeatWatchdog(this.config.heartbeat, (silentForMs) => this.raiseAlarm(silentForMs));
      this.watchdog = watchdog;
      this.timers.push(setInterval(() => watchdog.check(), watchdog.checkEveryMs));
    }
    for (const timer of this.timers) timer.unref();
  }

  private onSubscriberReady(): void {
    this.subscriber
      ?.subscribe(this.keys.notify)
      .then(() => {
        this.subscribed = true;
        this.showListeningWhenReady();
        this.requestDrain();
      })
      .catch((error: Error) => this.onRedisError(error));
  }

  /** The status line shows an outage at once; a notice follows only if it lasts. */
  /** "listening" means both clients work: the subscription is up and commands can run. */
  private showListeningWhenReady(): void {
    if (!this.owner || !this.subscribed || this.commands?.status !== "ready" || this.state === "listening") return;
    if (this.outageNoticed) this.notify(`gateway: Redis is back; listening on ${this.keys.notify}`, "info");
    this.outageNoticed = false;
    this.lastError = undefined;
    this.setState("listening");
  }

  private onRedisError(error: Error): void {
    if (this.stopped || this.refused) return;
    this.lastError = error.message.split("\n")[0];
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
   * Claims this session's id (refreshing the claim later). Refused when another live pi holds it:
   * then this pi leaves the queue alone, so two sessions never compete for one queue.
   */
  private async register(): Promise<void> {
    const commands = this.commands;
    if (!commands || commands.status !== "ready" || this.stopped || this.refused) return;
    try {
      const claim = await claimSession(commands, this.config.prefix, this.config.sessionId, ALIVE_TTL_SECONDS, this.startedAt);
      if (claim.ok) {
        if (!this.owner) {
          this.owner = true;
          await pruneDeadSessions(commands, this.config.prefix).catch(() => []);
          this.showListeningWhenReady();
          this.requestDrain();
        }
        return;
      }
      this.refuse(claim.holder);
    } catch (error) {
      this.lastError = (error as Error).message.split("\n")[0];
    }
  }

  private refuse(holder: AliveRecord | undefined): void {
    const who = holder ? `pid ${holder.pid} on ${holder.host}` : "another pi session";
    this.refused = true;
    this.owner = false;
    this.setState("refused", `gateway: ${this.config.sessionId} belongs to ${who}`);
    this.notify(`gateway: ${who} already receives the events for "${this.config.sessionId}"; this session leaves them alone.`, "error");
    const { commands, subscriber } = this;
    this.commands = this.subscriber = undefined;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    void Promise.all([commands, subscriber].map((client) => client && closeClient(client)));
  }

  private async unregister(commands: Redis): Promise<void> {
    if (!this.owner) return;
    const key = aliveKey(this.config.prefix, this.config.sessionId);
    const current = parseAlive(await commands.get(key));
    if (current && current.owner !== ownerToken()) return;
    await commands.multi().srem(sessionsRegistryKey(this.config.prefix), this.config.sessionId).del(key).exec();
  }

  /**
   * Drains when pi can take a message: idle, or right after agent_end. Otherwise remembers that
   * a drain is wanted and does it after the turn.
   */
  private requestDrain(afterTurn = false): void {
    if (this.stopped || !this.commands || !this.owner) return;
    const idle = afterTurn || (!this.agentRunning && (this.ctx?.isIdle() ?? true));
    if (this.draining || this.awaitingTurn || !idle) {
      this.drainWanted = true;
      return;
    }
    this.drainWanted = false;
    this.draining = true;
    void this.drain().finally(() => {
      this.draining = false;
      if (this.drainWanted && !this.awaitingTurn) setImmediate(() => this.requestDrain(true));
    });
  }

  private async drain(): Promise<void> {
    const commands = this.commands;
    if (!commands || commands.status !== "ready") return;
    try {
      const result = await drainOnce(commands, this.keys, {
        maxBatch: this.config.maxBatch,
        dedupeTtlSeconds: this.config.dedupeTtlSeconds,
        handOff: (events) => this.handOff(events),
      });
      this.duplicates += result.duplicates;
      if (result.deadLettered.length) this.reportDeadLetters(result.deadLettered);
      if (result.delivered.length) await this.acknowledgeSmoke(commands, result.delivered);
      if (result.remaining > 0) this.drainWanted = true;
      if (this.state === "listening") this.setState("listening"); // refreshes the delivered count
    } catch (error) {
      if (!(error instanceof PiBusyError)) this.lastError = (error as Error).message.split("\n")[0];
      this.drainWanted = true;
    }
  }

  private handOff(events: GatewayEvent[]): void {
    // a turn started while this batch was being claimed: leave it unacknowledged in `processing`,
    // the drain after agent_end hands it over first
    if (this.agentRunning || this.awaitingTurn) throw new PiBusyError();
    this.pi.sendUserMessage(this.messageFor(events), { deliverAs: "followUp" });
    this.awaitingTurn = true;
    this.delivered += events.length;
    clearTimeout(this.turnGrace);
    this.turnGrace = setTimeout(() => {
      if (!this.awaitingTurn) return;
      this.awaitingTurn = false;
      this.requestDrain();
    }, TURN_START_GRACE_MS);
    this.turnGrace.unref();
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
    const minutes = Math.round(silentForMs / 60_000);
    const text =
      `[gateway watchdog] No heartbeat has arrived for ${minutes >= 1 ? `${minutes} min` : `${Math.round(silentForMs / 1000)} s`} ` +
      `(expected every ${this.config.heartbeat!.intervalSeconds} s). The heartbeat source (cron, launchd or systemd timer) may have stopped: ` +
      "tell the user, and suggest running `gateway-setup doctor`.";
    this.notify(text, "error");
    if (this.awaitingTurn || this.agentRunning) this.pendingAlarm = text;
    else this.sendAlarm(text);
  }

  private sendAlarm(text: string): void {
    this.pendingAlarm = undefined;
    this.pi.sendUserMessage(text, { deliverAs: "followUp" });
    this.awaitingTurn = true;
  }

  private async acknowledgeSmoke(commands: Redis, events: GatewayEvent[]): Promise<void> {
    const smoke = events.filter((event) => event.type === "gateway.smoke");
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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function closeClient(client: Redis): Promise<void> {
  client.removeAllListeners("ready");
  try {
    if (client.status === "ready") await Promise.race([client.quit(), delay(1000)]);
  } catch {
    // closing anyway
  }
  client.disconnect();
}
