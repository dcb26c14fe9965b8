// Replies are durable once delivered to the bridge: each destination chat's reply is one outbox
// entry (its chunks), sent in order and removed only after every chunk went out. The sender never
// throws: a rate limit waits retry_after, a server or network failure backs off, a chat that
// refuses the bot (403) is retried slowly, a request Telegram can never accept (400) is dropped.
// A reply of one message to one chat goes out while its RPUSH is still on the way: Redis runs that
// RPUSH before the LREM that follows the send (one connection, in order), and should the RPUSH
// fail, the reply counts as delivered if it went out, and is withdrawn unsent otherwise.
import { randomUUID } from "node:crypto";
import type { Api } from "grammy";
import type { Redis } from "ioredis";
import type { HealthRecorder } from "./health.ts";
import { type TelegramKeys, telegramKeys } from "./keys.ts";
import { apiFailure, grammySignal, type Scrub } from "./scrub.ts";
import { duration, sleep, Waker } from "./sleep.ts";

export interface OutboxEntry {
  id: string;
  chatId: number;
  chunks: string[];
  createdAt: number;
}

export interface SenderOptions {
  api: Api;
  redis: Redis;
  prefix: string;
  health: HealthRecorder;
  scrub: Scrub;
  log(line: string): void;
  /** how long a chat that answered 403 waits before the next try (default 60 s) */
  forbiddenRetryMs?: number;
  /** the first wait after a server or network failure, doubling up to maxBackoffMs (default 1 s, 60 s) */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export function outboxEntry(chatId: number, chunks: string[]): OutboxEntry {
  return { id: randomUUID(), chatId, chunks, createdAt: Date.now() };
}

type Attempt = "sent" | "dropped" | "later";

export class OutboxSender {
  private readonly keys: TelegramKeys;
  private readonly waker = new Waker();
  private readonly controller = new AbortController();
  /** chunks of an entry already sent by this process: a retry resumes after them */
  private readonly sentChunks = new Map<string, number>();
  private readonly blockedUntil = new Map<number, number>();
  private backoffMs: number;
  private running: Promise<void> | undefined;
  /**
   * The outbox as this process last knew it (only this sender writes it), so a reply goes out
   * without reading the list back first; undefined until it is read from Redis, and again after a
   * failed write, when Redis is the one to ask.
   */
  private known: string[] | undefined;
  /** bumped by every enqueue: a read of the outbox that overlapped one is read again */
  private enqueued = 0;
  /**
   * replies handed to the sender before their RPUSH was confirmed: "pending", "out" once sent (or
   * dropped by Telegram), "withdrawn" when the RPUSH failed before that (never sent then)
   */
  private readonly earlyReplies = new Map<string, "pending" | "out" | "withdrawn">();
  /** the attempt under way */
  private sending: { raw: string; attempt: Promise<Attempt> } | undefined;

  constructor(private readonly options: SenderOptions) {
    this.keys = telegramKeys(options.prefix);
    this.backoffMs = this.initialBackoff;
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
  }

  async enqueue(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const raws = entries.map((entry) => JSON.stringify(entry));
    const pushed = this.options.redis.rpush(this.keys.outbox, ...raws);
    const early = this.known && raws.length === 1 && entries[0]!.chunks.length === 1 ? raws[0] : undefined;
    if (early !== undefined) {
      this.earlyReplies.set(early, "pending");
      this.known!.push(early);
      this.waker.wake();
    }
    try {
      await pushed;
    } catch (error) {
      if (early !== undefined && (await this.wentOut(early))) return;
      // it may have reached Redis all the same
      this.known = undefined;
      throw error;
    } finally {
      if (early !== undefined) this.earlyReplies.delete(early);
    }
    this.enqueued++;
    if (early !== undefined) return;
    this.known?.push(...raws);
    this.waker.wake();
  }

  /** The RPUSH of a reply sent early failed: true when it went out (or Telegram dropped it); otherwise it is withdrawn unsent. */
  private async wentOut(raw: string): Promise<boolean> {
    if (this.earlyReplies.get(raw) === "out") return true;
    this.earlyReplies.set(raw, "withdrawn");
    if (this.sending?.raw !== raw) return false;
    return (await this.sending.attempt) !== "later";
  }

  /** The chat wrote to the bot: a reply it refused before (403) may go through now. */
  unblock(chatId: number): void {
    if (this.blockedUntil.delete(chatId)) this.waker.wake();
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  private get initialBackoff(): number {
    return this.options.initialBackoffMs ?? 1000;
  }

  private async loop(): Promise<void> {
    while (!this.signal.aborted) {
      let entries: string[];
      try {
        entries = this.known ?? (await this.readOutbox());
      } catch (error) {
        this.options.log(`telegram: cannot read the outbox (${this.options.scrub((error as Error).message)}), retrying`);
        await this.backOff();
        continue;
      }
      const next = this.nextEntry(entries);
      if (!next) {
        await this.waker.wait(this.signal, this.untilNextUnblock());
        continue;
      }
      const sending = { raw: next.raw, attempt: next.entry ? this.send(next.entry) : Promise.resolve<Attempt>("dropped") };
      this.sending = sending;
      const attempt = await sending.attempt;
      this.sending = undefined;
      if (attempt === "later") continue;
      if (this.earlyReplies.get(next.raw) === "pending") this.earlyReplies.set(next.raw, "out");
      await this.remove(next.raw, attempt === "sent" ? next.entry : undefined);
    }
  }

  private async readOutbox(): Promise<string[]> {
    for (;;) {
      const before = this.enqueued;
      const entries = await this.options.redis.lrange(this.keys.outbox, 0, -1);
      if (this.enqueued === before) {
        this.known = entries;
        return entries;
      }
    }
  }

  /** The oldest entry whose chat is not waiting out a 403 (a chat's replies keep their order). */
  private nextEntry(entries: readonly string[]): { raw: string; entry: OutboxEntry | undefined } | undefined {
    const now = Date.now();
    const waiting = new Set<number>();
    for (const raw of entries) {
      if (this.earlyReplies.get(raw) === "withdrawn") continue;
      const entry = parseEntry(raw);
      if (!entry) return { raw, entry: undefined };
      if (waiting.has(entry.chatId)) continue;
      if ((this.blockedUntil.get(entry.chatId) ?? 0) > now) {
        waiting.add(entry.chatId);
        continue;
      }
      return { raw, entry };
    }
    return undefined;
  }

  private untilNextUnblock(): number | undefined {
    const times = [...this.blockedUntil.values()].map((until) => until - Date.now()).filter((ms) => ms > 0);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  private async send(entry: OutboxEntry): Promise<Attempt> {
    for (let index = this.sentChunks.get(entry.id) ?? 0; index < entry.chunks.length; index++) {
      try {
        await this.options.api.sendMessage(entry.chatId, entry.chunks[index]!, {}, grammySignal(this.signal));
      } catch (error) {
        if (this.signal.aborted) return "later";
        return this.failed(entry, error);
      }
      this.sentChunks.set(entry.id, index + 1);
      this.backoffMs = this.initialBackoff;
    }
    return "sent";
  }

  private async failed(entry: OutboxEntry, error: unknown): Promise<Attempt> {
    const failure = apiFailure(error, this.options.scrub);
    const what = `${failure.code || "network error"}: ${failure.description}`;
    if (failure.code === 429) {
      const seconds = failure.retryAfter ?? 1;
      this.options.log(`telegram: rate limited (${what}), waiting ${seconds} s before sending again`);
      await sleep(seconds * 1000, this.signal);
      return "later";
    }
    if (failure.code === 403 || failure.code === 400) {
      this.options.health.update({ lastSendError: { chatId: entry.chatId, code: failure.code, description: failure.description, at: Date.now() } });
      if (failure.code === 400) {
        this.options.log(`telegram: dropped a reply to chat ${entry.chatId} that Telegram refuses (${what})`);
        return "dropped";
      }
      const retryMs = this.options.forbiddenRetryMs ?? 60_000;
      this.blockedUntil.set(entry.chatId, Date.now() + retryMs);
      this.options.log(
        `telegram: chat ${entry.chatId} refuses the bot's messages (${what}); that user must open the bot in Telegram and send /start once. Retrying ` +
          `every ${duration(retryMs)}`,
      );
      return "later";
    }
    this.options.log(`telegram: sending to chat ${entry.chatId} failed (${what}), retrying in ${duration(this.backoffMs)}`);
    await this.backOff();
    return "later";
  }

  private async backOff(): Promise<void> {
    await sleep(this.backoffMs, this.signal);
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 60_000);
  }

  private forget(raw: string): void {
    if (this.known) this.known = this.known.filter((known) => known !== raw);
  }

  private async remove(raw: string, sent: OutboxEntry | undefined): Promise<void> {
    try {
      // every copy: ioredis sends an RPUSH again when a broken connection lost its reply, and each entry is unique (its id)
      await this.options.redis.lrem(this.keys.outbox, 0, raw);
      this.forget(raw);
      if (sent) {
        this.sentChunks.delete(sent.id);
        await this.options.redis.hset(this.keys.lastReply, String(sent.chatId), JSON.stringify({ at: Date.now(), chunks: sent.chunks.length }));
      }
    } catch (error) {
      // the entry stays; the chunks this process sent are remembered, so the retry sends none again
      this.known = undefined;
      this.options.log(`telegram: cannot update the outbox (${this.options.scrub((error as Error).message)})`);
      await this.backOff();
    }
  }
}

function parseEntry(raw: string): OutboxEntry | undefined {
  try {
    const entry = JSON.parse(raw) as OutboxEntry;
    return typeof entry.chatId === "number" && Array.isArray(entry.chunks) ? entry : undefined;
  } catch {
    return undefined;
  }
}
