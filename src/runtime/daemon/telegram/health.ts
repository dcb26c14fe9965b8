// What the bridge knows about its own health: whether it polls, when a poll last worked, the last
// Bot API error (401 revoked token, 409 a second poller or a webhook), the last send failure. Kept
// in memory for /status and mirrored into Redis for `status` and `doctor`, which run elsewhere.
import type { Redis } from "ioredis";
import type { RedisCommands } from "../../protocol/redis-commands.ts";
import { telegramKeys } from "./keys.ts";

export interface TelegramError {
  /** the Bot API's error code, 0 for a network error */
  code: number;
  description: string;
  at: number;
}

export interface TelegramHealth {
  polling: boolean;
  lastPollOkAt?: number;
  lastError?: TelegramError;
  /** the last reply Telegram refused (403: the user never wrote to the bot; 400) */
  lastSendError?: TelegramError & { chatId: number };
  botUsername?: string;
  /** when this was written (the Redis copy) */
  updatedAt?: number;
}

/** A successful poll is mirrored at most this often (a long poll returns every few seconds when busy). */
const POLL_OK_MIRROR_MS = 5000;

export class HealthRecorder {
  private state: TelegramHealth = { polling: false };
  private mirroredPollOkAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  get current(): TelegramHealth {
    return { ...this.state };
  }

  pollOk(now = Date.now()): void {
    const wasPolling = this.state.polling;
    this.state = { ...this.state, polling: true, lastPollOkAt: now };
    if (!wasPolling || now - this.mirroredPollOkAt >= POLL_OK_MIRROR_MS) this.mirror();
  }

  update(change: Partial<TelegramHealth>): void {
    this.state = { ...this.state, ...change };
    this.mirror();
  }

  private mirror(): void {
    const now = Date.now();
    this.mirroredPollOkAt = now;
    this.redis.set(telegramKeys(this.prefix).health, JSON.stringify({ ...this.state, updatedAt: now })).catch(() => {});
  }
}

/** The bridge's health as the daemon last wrote it, for status and doctor; undefined before a daemon ran. */
export async function readTelegramHealth(redis: RedisCommands, prefix: string): Promise<TelegramHealth | undefined> {
  const raw = await redis.get(telegramKeys(prefix).health);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as TelegramHealth;
  } catch {
    return undefined;
  }
}
