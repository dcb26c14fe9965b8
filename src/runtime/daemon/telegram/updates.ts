// What the bot does with a message. The allowlist comes first: a user neither allowed nor paired
// is dropped silently, or (pairing on) given a one-time code and nothing else; nothing of theirs
// reaches the model. Allowed users' /start (Telegram's first message to a bot), /status, /stop and
// /new go straight to the daemon (they work while a turn runs); any other text is an input,
// persisted before the handler returns.
import { Composer, type Context } from "grammy";
import type { Redis } from "ioredis";
import type { DaemonControl, DaemonInput, Origin } from "../types.ts";
import type { TelegramInbox } from "./inbox.ts";
import { isPaired, PAIRING_TTL_SECONDS, pairingCodeFor } from "./pairing.ts";

export type OwnCommand = "start" | "status" | "stop" | "new";

/** the answer to /start: the owner sends it once so that the bot may write to them */
export const START_ANSWER = "Connected: write here to talk to pi. /status shows what it is doing, /stop ends a running turn, /new starts afresh.";

/** `/start`, `/status`, `/stop`, `/new`, optionally addressed `@<this bot>`; anything else is not ours. */
export function ownCommand(text: string, botUsername: string | undefined): OwnCommand | undefined {
  const match = /^\/(start|status|stop|new)(?:@([A-Za-z0-9_]+))?$/.exec(text.trim());
  if (!match) return undefined;
  if (match[2] !== undefined && match[2].toLowerCase() !== botUsername?.toLowerCase()) return undefined;
  return match[1] as OwnCommand;
}

export interface UpdateHandlerOptions {
  allow: readonly number[];
  pairing: boolean;
  redis: Redis;
  prefix: string;
  inbox: TelegramInbox;
  control: DaemonControl;
  /** a durable answer in a chat (through the outbox) */
  answer(origin: Origin, text: string): Promise<void>;
  /** a best-effort message to someone not allowed (the pairing code): nothing of theirs is persisted */
  answerStranger(chatId: number, text: string): void;
  /** a new input was persisted */
  received(input: DaemonInput): void;
  /** a message came from this chat: it accepts the bot's messages now */
  heardFrom(chatId: number): void;
  log(line: string): void;
}

export function updateHandlers(options: UpdateHandlerOptions): Composer<Context> {
  const handlers = new Composer<Context>();
  handlers.use(async (ctx, next) => {
    const message = ctx.message;
    if (!message?.from || message.chat.type !== "private") return;
    const userId = message.from.id;
    if (options.allow.includes(userId) || (await isPaired(options.redis, options.prefix, userId))) return next();
    if (!options.pairing) return;
    const code = await pairingCodeFor(options.redis, options.prefix, { userId, chatId: message.chat.id });
    options.answerStranger(
      message.chat.id,
      `This bot is private. Your pairing code is ${code} (valid for ${PAIRING_TTL_SECONDS / 60} minutes): its owner admits you by running ` +
        `\`gateway-setup pair ${code}\`.`,
    );
  });
  handlers.use(async (ctx) => {
    const message = ctx.message!;
    const origin: Origin = { kind: "telegram", chatId: message.chat.id, userId: message.from!.id, updateId: ctx.update.update_id };
    options.heardFrom(origin.chatId);
    if (message.text === undefined) {
      if (await options.inbox.markHandled(origin.updateId)) await options.answer(origin, "I understand only text messages.");
      return;
    }
    const command = ownCommand(message.text, ctx.me.username);
    if (command) {
      if (await options.inbox.markHandled(origin.updateId)) runCommand(command, origin, options);
      return;
    }
    const input: DaemonInput = { id: `tg:${origin.updateId}`, origin, text: message.text, priority: "human" };
    if (await options.inbox.persist(input, origin.updateId)) options.received(input);
  });
  return handlers;
}

/** Runs a command without holding up the updates behind it (/new waits for the running turn). */
function runCommand(command: OwnCommand, origin: Origin, options: UpdateHandlerOptions): void {
  const answer = (text: string): void => {
    options.answer(origin, text).catch((error: Error) => options.log(`telegram: cannot queue the answer to /${command}: ${error.message}`));
  };
  const failed = (error: Error): void => answer(`/${command} failed: ${error.message}`);
  switch (command) {
    case "start":
      answer(START_ANSWER);
      return;
    case "status":
      try {
        answer(options.control.status());
      } catch (error) {
        failed(error as Error);
      }
      return;
    case "stop":
      options.control.stop().then((stopped) => answer(stopped ? "Stopped the running turn." : "No turn is running."), failed);
      return;
    case "new":
      options.control.newSession().then(() => answer("Started a fresh session."), failed);
      return;
  }
}
