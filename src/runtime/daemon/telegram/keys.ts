// Redis keys of the Telegram bridge, all under `<prefix>:telegram:`.
import { createHash } from "node:crypto";
import { assertPrefix } from "../../protocol/keys.ts";

export interface TelegramKeys {
  /** list: inputs (DaemonInput JSON) persisted and not yet answered, oldest first */
  inbox: string;
  /** prefix of per-update markers (`<handledPrefix><update_id>`, with a TTL): an update re-served by Telegram is not handled twice */
  handledPrefix: string;
  /** list: replies (OutboxEntry JSON) not yet sent, oldest first */
  outbox: string;
  /** set: user ids admitted with a pairing code */
  paired: string;
  /** `<pairingPrefix><code>` -> {userId, chatId}, expires after an hour */
  pairingPrefix: string;
  /** `<pairingUserPrefix><userId>` -> the code that user was given (the same one within the hour) */
  pairingUserPrefix: string;
  /** string: the bridge's health (JSON), for status and doctor in other processes */
  health: string;
  /** hash: chat id -> the last reply sent there (JSON {at, chunks}) */
  lastReply: string;
}

export function telegramKeys(prefix: string): TelegramKeys {
  const base = `${assertPrefix(prefix)}:telegram`;
  return {
    inbox: `${base}:inbox`,
    handledPrefix: `${base}:handled:`,
    outbox: `${base}:outbox`,
    paired: `${base}:paired`,
    pairingPrefix: `${base}:pairing:`,
    pairingUserPrefix: `${base}:pairing-user:`,
    health: `${base}:health`,
    lastReply: `${base}:last-reply`,
  };
}

/** One poller per bot token: the lock's key names the token by a hash, never by itself. */
export function pollerLockKey(prefix: string, token: string): string {
  return `${assertPrefix(prefix)}:telegram:poller:${createHash("sha256").update(token).digest("hex").slice(0, 16)}`;
}
