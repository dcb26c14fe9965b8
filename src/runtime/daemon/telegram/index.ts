// The Telegram part of the daemon, as the daemon, setup, doctor and status use it.
export { chatKnown, checkBotToken, DEFAULT_API_ROOT, deleteWebhook, normaliseApiRoot, type TokenCheck, webhookUrl } from "./api.ts";
export { TelegramBridge, type TelegramBridgeOptions } from "./bridge.ts";
export { readTelegramHealth, type TelegramError, type TelegramHealth } from "./health.ts";
export { pollerLockKey, telegramKeys } from "./keys.ts";
export { PAIRING_TTL_SECONDS, type PairingRequest, redeemPairingCode } from "./pairing.ts";
export { splitForTelegram, TELEGRAM_MESSAGE_LIMIT } from "./split.ts";
