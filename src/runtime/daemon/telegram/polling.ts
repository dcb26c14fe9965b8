// Long polling under supervision. grammY's bot.start() deletes a webhook, then polls getUpdates;
// it stops for good on 401 (token revoked) and 409 (another poller, or a webhook set meanwhile),
// and sleeps un-abortably between its own retries of other failures. So: a transformer retries
// getUpdates on 429 (retry_after), 5xx and network errors with abortable waits and notes every
// successful poll; the supervisor records 401/409, says so in one log line and starts a fresh Bot
// after a slow pause instead of crash-looping. A fresh Bot per start also means an update whose
// handler failed (Redis down) was never confirmed: Telegram serves it again.
import { type Api, Bot, BotError, type Composer, type Context, type Transformer } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import type { HealthRecorder } from "./health.ts";
import type { PollerLock } from "./poller-lock.ts";
import { apiFailure, grammySignal, type Scrub } from "./scrub.ts";
import { duration, sleep } from "./sleep.ts";

export const BOT_COMMANDS = [
  { command: "status", description: "queue, model, uptime, last heartbeat" },
  { command: "stop", description: "abort the running turn" },
  { command: "new", description: "start a fresh session" },
];

export interface PollingOptions {
  token: string;
  apiRoot: string;
  /** the bridge's own calls (getMe, setMyCommands) */
  api: Api;
  handlers: Composer<Context>;
  lock: PollerLock;
  health: HealthRecorder;
  scrub: Scrub;
  log(line: string): void;
  /** the pause before polling again after 401/409 or a lost lock (default 30 s) */
  restartPauseMs?: number;
  /** getUpdates' long-poll timeout in seconds (default 30) */
  pollTimeoutSeconds?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

class Stopping extends Error {}

export class PollingSupervisor {
  private readonly controller = new AbortController();
  private bot: Bot | undefined;
  private botInfo: UserFromGetMe | undefined;
  private running: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private failing = false;
  /** the first getUpdates of a Bot's life returns at once, so health tells within a moment whether polling works */
  private firstPoll = true;
  private backoffMs: number;

  constructor(private readonly options: PollingOptions) {
    this.backoffMs = this.initialBackoff;
  }

  start(): void {
    this.running ??= this.supervise();
  }

  /** Stops polling once the updates being handled are persisted; resolves when the loop ended. */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled([...this.inFlight]);
    await this.bot?.stop().catch(() => {});
    await this.running;
  }

  /** Stops the current Bot (the lock went to someone else); the supervisor decides when to poll again. */
  interrupt(): void {
    this.bot?.stop().catch(() => {});
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  private get initialBackoff(): number {
    return this.options.initialBackoffMs ?? 1000;
  }

  private async supervise(): Promise<void> {
    while (!this.signal.aborted) {
      const pauseMs = await this.pollOnce();
      this.options.health.update({ polling: false });
      if (pauseMs > 0) await sleep(pauseMs, this.signal);
    }
  }

  /** One life of a Bot; returns how long to pause before the next. */
  private async pollOnce(): Promise<number> {
    const slow = this.options.restartPauseMs ?? 30_000;
    try {
      const lock = await this.options.lock.acquire();
      if (!lock.ok) return this.failed({ code: 409, description: `another gateway daemon polls this bot (lock held by ${lock.holder})` }, slow);
      const botInfo = await this.identify();
      if (this.signal.aborted) return 0;
      const bot = new Bot(this.options.token, { botInfo, client: { apiRoot: this.options.apiRoot } });
      bot.api.config.use(this.pollingTransformer);
      bot.use(this.tracked);
      bot.catch((error) => {
        throw error;
      });
      this.bot = bot;
      this.firstPoll = true;
      await bot.start({ allowed_updates: ["message"], timeout: this.options.pollTimeoutSeconds ?? 30 });
      return this.signal.aborted ? 0 : slow;
    } catch (error) {
      if (this.signal.aborted) return 0;
      if (error instanceof BotError) {
        const cause = error.error instanceof Stopping ? "stopping" : this.options.scrub(String((error.error as Error)?.message ?? error.error));
        this.options.log(`telegram: handling update ${error.ctx.update.update_id} failed (${cause}); it stays unconfirmed and comes again`);
        return this.nextBackoff();
      }
      const failure = apiFailure(error, this.options.scrub);
      return this.failed(failure, failure.code === 401 || failure.code === 409 ? slow : this.nextBackoff());
    } finally {
      this.bot = undefined;
    }
  }

  private failed(failure: { code: number; description: string }, pauseMs: number): number {
    this.failing = true;
    this.options.health.update({ polling: false, lastError: { ...failure, at: Date.now() } });
    this.options.log(`telegram: polling stopped: ${explain(failure)}; trying again in ${duration(pauseMs)}`);
    return pauseMs;
  }

  private nextBackoff(): number {
    const pause = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 60_000);
    return pause;
  }

  /** getMe once per process (grammY's own init retries forever and cannot be stopped), then the command menu. */
  private async identify(): Promise<UserFromGetMe> {
    if (this.botInfo) return this.botInfo;
    const botInfo = await this.options.api.getMe(grammySignal(this.signal));
    this.botInfo = botInfo;
    this.options.health.update({ botUsername: botInfo.username });
    this.options.log(`telegram: polling as @${botInfo.username}`);
    await this.options.api.setMyCommands(BOT_COMMANDS, {}, grammySignal(this.signal)).catch(() => {});
    return botInfo;
  }

  /** The handlers, refused once stopping began (the update stays unconfirmed) and awaited by stop(). */
  private readonly tracked = async (ctx: Context, next: () => Promise<void>): Promise<void> => {
    if (this.signal.aborted) throw new Stopping("the bridge is stopping");
    const handling = Promise.resolve(this.options.handlers.middleware()(ctx, next)).then(() => {});
    this.inFlight.add(handling);
    try {
      await handling;
    } finally {
      this.inFlight.delete(handling);
    }
  };

  private readonly pollingTransformer: Transformer = async (prev, method, payload, signal) => {
    // only the polling loop's own getUpdates carries a signal (bot.stop()'s last call has none)
    if (method !== "getUpdates" || !signal) return prev(method, payload, signal);
    for (;;) {
      let failure: { code: number; description: string; retryAfter?: number };
      try {
        const response = await prev(method, this.firstPoll ? { ...payload, timeout: 0 } : payload, signal);
        if (response.ok) {
          this.pollSucceeded();
          return response;
        }
        if (response.error_code !== 429 && response.error_code < 500) return response;
        failure = { code: response.error_code, description: this.options.scrub(response.description), retryAfter: response.parameters?.retry_after };
      } catch (error) {
        if (signal.aborted) throw error;
        failure = apiFailure(error, this.options.scrub);
      }
      const waitMs = failure.code === 429 ? (failure.retryAfter ?? 1) * 1000 : this.nextBackoff();
      this.pollFailed(failure, waitMs);
      await sleep(waitMs, signal as unknown as AbortSignal);
      if (signal.aborted) throw new Stopping("the bridge is stopping");
    }
  };

  private pollSucceeded(): void {
    this.firstPoll = false;
    this.backoffMs = this.initialBackoff;
    if (this.failing) this.options.log("telegram: polling works again");
    this.failing = false;
    this.options.health.pollOk();
  }

  private pollFailed(failure: { code: number; description: string }, waitMs: number): void {
    if (!this.failing) this.options.log(`telegram: getUpdates failed (${explain(failure)}); retrying (next in ${duration(waitMs)})`);
    this.failing = true;
    this.options.health.update({ lastError: { code: failure.code, description: failure.description, at: Date.now() } });
  }
}

/** One clear line per failure: what it means and what to do. */
function explain(failure: { code: number; description: string }): string {
  const what = `${failure.code || "network error"}: ${failure.description}`;
  if (failure.code === 401) return `${what}; the bot token was revoked or is wrong: get a new one from @BotFather and run gateway-setup again`;
  if (failure.code === 409) return `${what}; another program polls this bot or a webhook is set: stop it (gateway-setup doctor --fix deletes a webhook)`;
  return what;
}
