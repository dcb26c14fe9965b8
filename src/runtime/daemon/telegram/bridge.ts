// The daemon's Telegram side: an input source (messages from allowed users, durable in a Redis
// inbox until acknowledged) and the reply sink (replies through a durable outbox to their chat,
// background ones to the owner). One poller per token, polling supervised, the token never logged.
import { Api } from "grammy";
import type { Redis } from "ioredis";
import type { DaemonControl, DaemonInput, InputSource, Origin, ReplySink } from "../types.ts";
import { normaliseApiRoot } from "./api.ts";
import { HealthRecorder, type TelegramHealth } from "./health.ts";
import { TelegramInbox } from "./inbox.ts";
import { OutboxSender, outboxEntry } from "./outbox.ts";
import { PollerLock } from "./poller-lock.ts";
import { PollingSupervisor } from "./polling.ts";
import { type Scrub, tokenScrubber } from "./scrub.ts";
import { splitForTelegram } from "./split.ts";
import { updateHandlers } from "./updates.ts";

export interface TelegramBridgeOptions {
  token: string;
  /** another Bot API server (self-hosted, or a fake one in tests); a trailing slash is fine */
  apiRoot?: string;
  /** user ids allowed to talk to the bot; the first is the owner */
  allow: readonly number[];
  /** where background, heartbeat and alert replies go (default: the owner) */
  notifyChats?: readonly number[];
  /** unknown users get a one-time pairing code instead of silence */
  pairing: boolean;
  /** a command connection (not one in subscriber mode) */
  redis: Redis;
  prefix: string;
  control: DaemonControl;
  log(line: string): void;
  /** pause before polling again after 401/409 (default 30 s) */
  restartPauseMs?: number;
  /** getUpdates' long-poll timeout in seconds (default 30) */
  pollTimeoutSeconds?: number;
  /** how often a chat that refused a reply (403) is tried again (default 60 s) */
  forbiddenRetryMs?: number;
  /** first wait after a 5xx or network failure, doubling up to maxBackoffMs (default 1 s, 60 s) */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** how often the poller lock is refreshed (default 10 s; it expires after 30 s) */
  lockRefreshMs?: number;
}

export class TelegramBridge implements InputSource, ReplySink {
  private readonly scrub: Scrub;
  private readonly api: Api;
  private readonly healthRecorder: HealthRecorder;
  private readonly inbox: TelegramInbox;
  private readonly sender: OutboxSender;
  private readonly lock: PollerLock;
  private readonly polling: PollingSupervisor;
  private readonly listeners: Array<(input: DaemonInput) => void> = [];
  private lockTimer: NodeJS.Timeout | undefined;
  private lockRefresh: Promise<void> | undefined;
  private started = false;

  constructor(private readonly options: TelegramBridgeOptions) {
    if (options.allow.length === 0 && !options.pairing) throw new Error("telegram: an empty allowlist with pairing off would admit no one; refusing to start");
    this.scrub = tokenScrubber(options.token);
    const apiRoot = normaliseApiRoot(options.apiRoot);
    this.api = new Api(options.token, { apiRoot });
    this.healthRecorder = new HealthRecorder(options.redis, options.prefix);
    this.inbox = new TelegramInbox(options.redis, options.prefix);
    this.lock = new PollerLock(options.redis, options.prefix, options.token);
    const log = this.log;
    this.sender = new OutboxSender({
      api: this.api,
      redis: options.redis,
      prefix: options.prefix,
      health: this.healthRecorder,
      scrub: this.scrub,
      log,
      ...pick(options, ["forbiddenRetryMs", "initialBackoffMs", "maxBackoffMs"]),
    });
    const handlers = updateHandlers({
      allow: options.allow,
      pairing: options.pairing,
      redis: options.redis,
      prefix: options.prefix,
      inbox: this.inbox,
      control: options.control,
      answer: (origin, text) => this.deliver(origin, text),
      answerStranger: (chatId, text) => this.sendBestEffort(chatId, text),
      received: (input) => this.emit(input),
      heardFrom: (chatId) => this.sender.unblock(chatId),
      log,
    });
    this.polling = new PollingSupervisor({
      token: options.token,
      apiRoot,
      api: this.api,
      handlers,
      lock: this.lock,
      health: this.healthRecorder,
      scrub: this.scrub,
      log,
      ...pick(options, ["restartPauseMs", "pollTimeoutSeconds", "initialBackoffMs", "maxBackoffMs"]),
    });
  }

  /** Takes the token's poller lock (throws when another daemon holds it), then polls and sends in the background. */
  async start(): Promise<void> {
    if (this.started) return;
    const lock = await this.lock.acquire();
    if (!lock.ok) throw new Error(`another gateway daemon is already polling this bot (lock held by ${lock.holder}); stop it first`);
    this.started = true;
    this.lockTimer = setInterval(() => {
      this.lockRefresh ??= this.refreshLock().finally(() => {
        this.lockRefresh = undefined;
      });
    }, this.options.lockRefreshMs ?? 10_000);
    this.sender.start();
    this.polling.start();
  }

  /** Stops polling (after the updates being handled are persisted) and sending; gives the lock back. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.lockTimer);
    await Promise.all([this.polling.stop(), this.sender.stop()]);
    await this.lockRefresh;
    await this.lock.release().catch((error: Error) => this.log(`telegram: cannot release the poller lock: ${error.message}`));
  }

  health(): TelegramHealth {
    return this.healthRecorder.current;
  }

  pending(): Promise<DaemonInput[]> {
    return this.inbox.pending();
  }

  onInput(listener: (input: DaemonInput) => void): void {
    this.listeners.push(listener);
  }

  ack(input: DaemonInput): Promise<void> {
    return this.inbox.remove(input);
  }

  /** Queues the reply (split for Telegram) in the outbox for its chat, or the owner chat(s); resolves once it is there. */
  async deliver(origin: Origin, text: string): Promise<void> {
    const chunks = splitForTelegram(text);
    if (chunks.length === 0) return;
    const chats = this.destinations(origin);
    if (chats.length === 0) {
      this.log(`telegram: no owner chat to send a ${origin.kind} reply to (the allowlist is empty and no notify chat is set); dropped it`);
      return;
    }
    await this.sender.enqueue(chats.map((chatId) => outboxEntry(chatId, chunks)));
  }

  typing(origin: Origin): void {
    if (origin.kind !== "telegram" || !this.started) return;
    this.api.sendChatAction(origin.chatId, "typing").catch(() => {});
  }

  private destinations(origin: Origin): number[] {
    if (origin.kind === "telegram") return [origin.chatId];
    if (this.options.notifyChats && this.options.notifyChats.length > 0) return [...this.options.notifyChats];
    return this.options.allow.length > 0 ? [this.options.allow[0]!] : [];
  }

  private sendBestEffort(chatId: number, text: string): void {
    this.api.sendMessage(chatId, text).catch((error: Error) => this.log(`telegram: cannot answer chat ${chatId}: ${this.scrub(error.message)}`));
  }

  private emit(input: DaemonInput): void {
    for (const listener of this.listeners) {
      try {
        listener(input);
      } catch (error) {
        this.log(`telegram: an input listener failed: ${this.scrub((error as Error).message)}`);
      }
    }
  }

  private async refreshLock(): Promise<void> {
    try {
      const lock = await this.lock.acquire();
      if (lock.ok) return;
      this.log(`telegram: the poller lock is now held by ${lock.holder}; polling pauses until it is free`);
      this.polling.interrupt();
    } catch (error) {
      this.log(`telegram: cannot refresh the poller lock: ${this.scrub((error as Error).message)}`);
    }
  }

  private readonly log = (line: string): void => {
    this.options.log(this.scrub(line));
  };
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked;
}
