// One consumer of one session id's queue: the Redis clients, the claim on the id, the drain loop
// and its retries, registration and de-duplication. It knows nothing of pi: a host takes the
// batches and shows the consumer's state (the pi extension's glue; tier 4's daemon). Nothing here
// blocks the host: start() only kicks off a background connect.
import type { Redis } from "ioredis";
import { type Claimed, type DeadLetter, drainOnce, foldInbox, HandedOff, type NextClaim } from "../protocol/drain.ts";
import { type GatewayEvent, HEARTBEAT_EVENT_TYPE, SMOKE_EVENT_TYPE } from "../protocol/event.ts";
import { defaultSessionKey, type SessionKeys, sessionKeys, smokeAckKey } from "../protocol/keys.ts";
import { handOverSatelliteQueue } from "../protocol/registry-scripts.ts";
import { type AliveRecord, claimSession, newOwner, pruneDeadSessions, releaseSession } from "../protocol/sessions.ts";
import { atMost, clientOptions, closeClient, ENV_REDIS_PASSWORD, ENV_REDIS_URL, loadIoredis, type RedisConstructor, runtimeRedisTarget } from "./connection.ts";

/** What the extension tells a pi user to run when its install is broken (the installer's self-test drops it: it rolls back instead). */
export const REPAIR_IN_PLACE = "Run `gateway-setup doctor --fix`.";

const ALIVE_TTL_SECONDS = 60;
/** also how often a refused consumer asks again whether the id is free */
const CLAIM_REFRESH_MS = 20_000;
/** a Redis restart of a second or two only shows in the status line */
const OUTAGE_NOTICE_AFTER_MS = 3_000;
/** after a failed drain: retry after this, doubling up to the maximum */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** after the host did not take a batch: retry after this, doubling up to the maximum */
const NOT_TAKEN_RETRY_FIRST_MS = 60_000;
const NOT_TAKEN_RETRY_MAX_MS = 15 * 60_000;
/** a backlog is claimed this many batches at a time; each is still handed over and acknowledged on its own */
const GROUP_BATCHES = 4;

const AUTH_ERROR = /NOAUTH|WRONGPASS|invalid password|invalid username-password/i;
/** an ACL user without a command or key the gateway needs: retrying does not help, the user's rights must change */
const PERMISSION_ERROR = /NOPERM/;

export type ConsumerState = "stopped" | "connecting" | "listening" | "unavailable" | "auth-failed" | "forbidden" | "no-ioredis" | "refused";

export interface ConsumerConfig {
  /** key prefix, `agent` by default */
  prefix: string;
  /** the queue consumed: `main` (tier 1), `gateway` (central), `pid-<pid>` */
  sessionId: string;
  /** Redis URL without password (`redis://` or `rediss://`) */
  redisUrl: string;
  /** KEY=VALUE file (mode 0600) that may hold GATEWAY_REDIS_PASSWORD */
  secretsFile?: string;
  /** only ever passed in memory (the installer's self-test); never rendered into a file */
  redisPassword?: string;
  /** how long an event id is remembered for de-duplication */
  dedupeTtlSeconds: number;
  /** at most this many events are handed over at once */
  maxBatch: number;
  /** safety-net poll of the queue, in case a PUBLISH was missed */
  pollIntervalMs: number;
  /** how often the claim is refreshed, and a refused consumer asks again (default 20 s) */
  claimRefreshMs?: number;
  /** the central session's heartbeats: one older than this interval is acknowledged, never handed over */
  heartbeat?: { intervalSeconds: number };
}

/**
 * A heartbeat pushed more than one interval ago (left in Redis by an earlier install, or queued
 * while nobody consumed): a newer one is due, and the checklist run it asks for would come late.
 */
export function isStaleHeartbeat(event: GatewayEvent, intervalSeconds: number | undefined, now: number): boolean {
  return intervalSeconds !== undefined && event.type === HEARTBEAT_EVENT_TYPE && now - event.ts > intervalSeconds * 1000;
}

export interface ConsumerOptions {
  /**
   * other session ids whose queues this one consumes too, folded into its own: the central
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

/** The host cannot take a batch now (busy, or it dropped it for another input): it waits in `processing` until the host asks for a drain again. */
export class HandOffDeferred extends Error {}

/** The host did not take a batch: it waits in `processing` and is offered again after a growing pause (one notice). */
export class HandOffNotTaken extends Error {}

/** What takes the batches and shows the consumer's state. */
export interface ConsumerHost {
  /** the host can take a batch now */
  canTake(): boolean;
  /**
   * Hands events over (never the installer's smoke events); resolves once the host took them, and
   * only then are they acknowledged. Throws HandOffDeferred or HandOffNotTaken when it did not.
   * `takenLate`: the host took a batch after all that counted as not taken.
   */
  take(events: GatewayEvent[], takenLate: () => void): Promise<void>;
  /** after every drain; true: the host started something of its own, so no drain follows at once */
  afterDrain?(): boolean;
  stateChanged(state: ConsumerState, detail?: string): void;
  notify(message: string, type: "info" | "warning" | "error"): void;
}

export class QueueConsumer {
  private state: ConsumerState = "stopped";
  private started = false;
  private stopped = false;
  private commands: Redis | undefined;
  private subscriber: Redis | undefined;
  private timers: NodeJS.Timeout[] = [];
  private outageTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;
  private notTakenNoticed = false;
  private drainInProgress = false;
  private drainWanted = false;
  /**
   * the inboxes may hold events: at the start, after a notice on an inbox's channel, on the poll,
   * after a failed drain. The session's own events need no fold (two trips per drain otherwise).
   */
  private foldWanted = true;
  /** ids handed over whose acknowledgement may not be known to a claim yet: never handed over again */
  private readonly handedOff = new HandedOff();
  /** the next batches, claimed with the last ones; they sit in `processing` meanwhile, so this is only a shortcut */
  private claimedNext: Claimed | undefined;
  /** the group claimed ahead, on its way: it follows claimedNext */
  private claiming: Promise<Claimed | undefined> | undefined;
  /** the token of the last acknowledgement sent, which the next one's applies after ('' after a fresh claim) */
  private lastAck = "";
  /** an acknowledgement left to land in the background failed: the batches in hand are dropped and claimed afresh */
  private claimedNextStale = false;
  private outageNoticed = false;
  private subscribed = false;
  /** this consumer holds the session id's claim (see protocol/sessions.ts) */
  private holdsClaim = false;
  private refused = false;
  private readonly identity: AliveRecord = newOwner(Date.now());
  private lastError: string | undefined;
  /** events handed over and taken */
  delivered = 0;
  private duplicates = 0;
  private deadLettered = 0;
  readonly keys: SessionKeys;
  private readonly inboxes: { id: string; keys: SessionKeys }[];

  constructor(
    private readonly config: ConsumerConfig,
    private readonly host: ConsumerHost,
    private readonly env: Record<string, string | undefined> = process.env,
    private readonly options: ConsumerOptions = { announceDefault: false },
  ) {
    this.keys = sessionKeys(config.prefix, config.sessionId);
    this.inboxes = (options.inboxes ?? []).filter((id) => id !== config.sessionId).map((id) => ({ id, keys: sessionKeys(config.prefix, id) }));
  }

  /** a drain is under way (a batch may be with the host) */
  get draining(): boolean {
    return this.drainInProgress;
  }

  /** this consumer holds the session id: events are its to take */
  get owner(): boolean {
    return this.holdsClaim;
  }

  private get channels(): string[] {
    return [this.keys.notify, ...this.inboxes.map((inbox) => inbox.keys.notify)];
  }

  /** Idempotent: connects in the background. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.setState("connecting");
    void this.connect();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.outageTimer);
    clearTimeout(this.retryTimer);
    this.timers = [];
    const { commands, subscriber } = this;
    this.commands = this.subscriber = undefined;
    if (commands && commands.status === "ready" && this.holdsClaim) {
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
      Redis = await loadIoredis();
    } catch (error) {
      this.setState("no-ioredis");
      this.host.notify(
        `gateway: cannot load ioredis (${(error as Error).message.split("\n")[0]}), so Redis events are not delivered. ${REPAIR_IN_PLACE}`,
        "warning",
      );
      return;
    }
    if (this.stopped) return;
    const target = runtimeRedisTarget(this.config, this.env);
    const { url, options } = clientOptions(target.url, target.password);
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
    this.subscriber.on("message", (channel: string) => {
      if (channel !== this.keys.notify) this.foldWanted = true;
      this.requestDrain();
    });
    this.timers.push(
      setInterval(() => {
        this.foldWanted = true;
        this.requestDrain();
      }, this.config.pollIntervalMs),
      setInterval(() => void this.register(), this.config.claimRefreshMs ?? CLAIM_REFRESH_MS),
    );
    for (const timer of this.timers) timer.unref();
  }

  /** Only the owner of the session id listens, so doctor's listener count means something. */
  private subscribeWhenOwner(): void {
    const subscriber = this.subscriber;
    if (!this.holdsClaim || this.subscribed || subscriber?.status !== "ready") return;
    subscriber
      .subscribe(...this.channels)
      .then(() => {
        if (!this.holdsClaim) return void subscriber.unsubscribe(...this.channels).catch(() => {});
        this.subscribed = true;
        // what was published while nobody listened is not announced again
        this.foldWanted = true;
        this.showListeningWhenReady();
        this.requestDrain();
      })
      .catch((error: Error) => this.onRedisError(error));
  }

  /** "listening" means both clients work: the subscription is up and commands can run. */
  private showListeningWhenReady(): void {
    if (!this.holdsClaim || !this.subscribed || this.commands?.status !== "ready" || this.state === "listening") return;
    if (this.outageNoticed) this.host.notify(`gateway: Redis is back; listening on ${this.keys.notify}`, "info");
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
      const where = this.config.secretsFile
        ? `${ENV_REDIS_PASSWORD}=... in ${this.config.secretsFile} (mode 0600)`
        : `${ENV_REDIS_PASSWORD} in pi's environment`;
      this.host.notify(
        `gateway: Redis at ${this.redisUrl()} refused the password (${this.lastError}). Put the right password in ${where}, then /reload.`,
        "error",
      );
      return;
    }
    if (PERMISSION_ERROR.test(error.message)) {
      if (this.state === "forbidden") return;
      this.setState("forbidden");
      this.host.notify(
        `gateway: the Redis user at ${this.redisUrl()} may not do what the gateway needs (${this.lastError}). ` +
          `It needs EVAL/EVALSHA, list, set, string and pub/sub commands on the keys and channels ${this.config.prefix}:*; grant them (ACL SETUSER), ` +
          `then /reload.`,
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
      this.host.notify(`gateway: Redis at ${this.redisUrl()} is unavailable (${this.lastError}); retrying. Events wait in Redis meanwhile.`, "warning");
    }, OUTAGE_NOTICE_AFTER_MS);
    this.outageTimer.unref();
  }

  /**
   * Claims this session's id, and keeps refreshing the claim. Refused while another live consumer
   * holds it: then this one leaves the queue alone (two consumers never compete for one queue) and
   * asks again on every refresh, taking over once the holder is gone.
   */
  private async register(): Promise<void> {
    const commands = this.commands;
    if (commands?.status !== "ready" || this.stopped) return;
    try {
      const claim = await claimSession(commands, this.config.prefix, this.config.sessionId, ALIVE_TTL_SECONDS, this.identity);
      if (this.stopped) return;
      if (!claim.ok) return this.refuse(claim.holder);
      // refreshed with every claim: a Redis restart without persistence forgets it
      if (this.options.announceDefault) await commands.set(defaultSessionKey(this.config.prefix), this.config.sessionId);
      if (this.holdsClaim) return;
      this.holdsClaim = true;
      if (this.refused) this.host.notify(`gateway: "${this.config.sessionId}" is free again; this session receives its events now.`, "info");
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
    const lostClaim = this.holdsClaim;
    this.holdsClaim = false;
    this.dropClaimed();
    if (this.subscribed) {
      this.subscribed = false;
      void this.subscriber?.unsubscribe(...this.channels).catch(() => {});
    }
    if (this.refused && !lostClaim) return;
    this.refused = true;
    const who = holder ? `pid ${holder.pid} on ${holder.host}` : "another pi session";
    this.setState("refused", `gateway: ${this.config.sessionId} belongs to ${who}`);
    this.host.notify(
      `gateway: ${who} already receives the events for "${this.config.sessionId}"; this session leaves them alone ` + "and takes over if that session ends.",
      "error",
    );
  }

  /** Gives the session id back; a satellite's id is never used again, so its leftovers go to the central session. */
  private async release(commands: Redis): Promise<void> {
    const released = await releaseSession(commands, this.config.prefix, this.config.sessionId, this.identity);
    if (released && this.options.satellite) await handOverSatelliteQueue(commands, this.config.prefix, this.config.sessionId);
  }

  /**
   * Drains when the host can take a batch; otherwise remembers that a drain is wanted. The host
   * asks again once it can (e.g. pi after its turn or a compaction).
   */
  requestDrain(): void {
    if (this.stopped || !this.commands || !this.holdsClaim) return;
    if (this.drainInProgress || !this.host.canTake()) {
      this.drainWanted = true;
      return;
    }
    this.drainWanted = false;
    this.drainInProgress = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.drain().finally(() => {
      this.drainInProgress = false;
      if (this.host.afterDrain?.()) return;
      // a failed drain waits for its retry timer
      if (this.drainWanted && !this.retryTimer) setImmediate(() => this.requestDrain());
    });
  }

  private async drain(): Promise<void> {
    const commands = this.commands;
    if (commands?.status !== "ready") return;
    if (this.claimedNextStale) this.dropClaimed();
    let claimed = this.claimedNext;
    this.claimedNext = undefined;
    try {
      if (this.foldWanted) {
        this.foldWanted = false;
        for (const inbox of this.inboxes) await foldInbox(commands, inbox, this.keys, this.config.prefix);
      }
      if (!claimed && this.claiming) {
        const claiming = this.claiming;
        this.claiming = undefined;
        claimed = await claiming;
      }
      // a fresh claim starts with the oldest entries of processing, whatever was acknowledged before
      if (!claimed) this.lastAck = "";
      const result = await drainOnce(commands, this.keys, {
        maxBatch: this.config.maxBatch,
        dedupeTtlSeconds: this.config.dedupeTtlSeconds,
        handOff: (events) => this.handOff(events),
        handedOff: this.handedOff,
        ...(claimed ? { claimed } : {}),
        previousAck: this.lastAck,
        claimInFlight: this.claiming !== undefined,
        groupBatches: GROUP_BATCHES,
        claimNext: () => this.nextClaim(),
        acknowledgeInBackground: (acknowledged) => this.acknowledgedInBackground(acknowledged),
      });
      this.claimedNext = result.next;
      if (result.claiming) this.claiming = result.claiming;
      if (result.ackToken) this.lastAck = result.ackToken;
      this.retryDelayMs = 0;
      this.notTakenNoticed = false;
      this.lastError = undefined;
      this.duplicates += result.duplicates;
      if (result.deadLettered.length) this.reportDeadLetters(result.deadLettered);
      await this.acknowledgeSmoke(commands, [...result.delivered, ...result.acknowledgedAgain]);
      if (result.remaining > 0 || this.claimedNext || this.claiming) this.drainWanted = true;
      if (this.state === "listening") this.setState("listening"); // refreshes the delivered count
    } catch (error) {
      // what is in hand or on its way is claimed afresh from processing, in order
      this.dropClaimed();
      this.drainWanted = true;
      if (error instanceof HandOffDeferred) return;
      if (error instanceof HandOffNotTaken) {
        const delayMs = this.scheduleRetry(NOT_TAKEN_RETRY_FIRST_MS, NOT_TAKEN_RETRY_MAX_MS);
        if (!this.notTakenNoticed) {
          this.notTakenNoticed = true;
          this.host.notify(`gateway: ${error.message}. The events stay queued in Redis; trying again in ${Math.round(delayMs / 1000)} s.`, "warning");
        }
        return;
      }
      this.lastError = (error as Error).message.split("\n")[0];
      this.foldWanted = true;
      this.scheduleRetry(RETRY_FIRST_MS, RETRY_MAX_MS);
    }
  }

  /**
   * The host takes the batch; the installer's smoke events never reach it. A batch that counted
   * as not taken stays in `processing`: should the host take it after all, the next drain
   * acknowledges it instead of handing it over again.
   */
  private async handOff(events: GatewayEvent[]): Promise<void> {
    const now = Date.now();
    const interval = this.config.heartbeat?.intervalSeconds;
    const stale = events.filter((event) => isStaleHeartbeat(event, interval, now));
    if (stale.length) {
      const ago = Math.round((now - Math.min(...stale.map((event) => event.ts))) / 60_000);
      this.host.notify(
        `gateway: dropped ${stale.length} heartbeat(s) pushed up to ${ago} min ago, more than one interval (${interval} s): a newer one is due`,
        "info",
      );
    }
    const forHost = events.filter((event) => event.type !== SMOKE_EVENT_TYPE && !stale.includes(event));
    if (!forHost.length) return;
    // the host got busy while this batch was being claimed: the drain it asks for next hands it over
    if (!this.host.canTake()) throw new HandOffDeferred("busy");
    await this.host.take(forHost, () => {
      this.handedOff.add(events.map((event) => event.id));
    });
    this.delivered += forHost.length;
  }

  /** Forgets the batches in hand and on their way: the next drain claims afresh what `processing` holds, oldest first. */
  private dropClaimed(): void {
    this.claimedNext = undefined;
    this.claiming = undefined;
    this.claimedNextStale = false;
    this.lastAck = "";
  }

  /**
   * A batch with another claimed batch in hand (or on its way) is acknowledged while that one goes
   * to the host. Should the acknowledgement fail, the next ones' fail too (each needs the one before
   * it), so the batches in hand are dropped and the next drain claims what `processing` still holds.
   */
  private acknowledgedInBackground(acknowledged: Promise<void>): void {
    acknowledged.catch((error: Error) => {
      if (this.stopped) return;
      this.lastError = error.message.split("\n")[0];
      this.claimedNextStale = true;
      this.requestDrain();
    });
  }

  /**
   * With an acknowledgement: whatever waits when the host can take it at once; while the host is
   * busy (pi's turn has just started), only a full batch, handed over without a trip when the turn
   * ends. A smaller one is left to grow with what arrives meanwhile, as pi takes a batch per turn.
   */
  private nextClaim(): NextClaim {
    if (this.stopped || !this.holdsClaim) return "none";
    return this.host.canTake() ? "waiting" : "full";
  }

  /** Retries a failed drain later, backing off; a request from the host or a new event may drain sooner. */
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
    this.host.notify(`gateway: ${letters.length} malformed event(s) moved to ${this.keys.deadLetter} (${reasons})`, "warning");
  }

  private setState(state: ConsumerState, detail?: string): void {
    this.state = state;
    this.host.stateChanged(state, detail);
  }
}
