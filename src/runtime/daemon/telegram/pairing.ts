// Pairing: an unknown user gets a one-time code (and nothing else); `gateway-setup pair <code>`
// admits them. The code lives an hour; asking again within the hour gives the same code.
import { randomInt } from "node:crypto";
import type { Redis } from "ioredis";
import { telegramKeys } from "./keys.ts";

export const PAIRING_TTL_SECONDS = 3600;
/** no 0/O, 1/I/L: a code read aloud or typed from a phone screen is not mistaken */
const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LENGTH = 8;

export interface PairingRequest {
  userId: number;
  chatId: number;
}

export function newPairingCode(): string {
  return Array.from({ length: CODE_LENGTH }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join("");
}

/** The code for this user: the one given within the last hour, else a new one. */
export async function pairingCodeFor(redis: Redis, prefix: string, request: PairingRequest): Promise<string> {
  const keys = telegramKeys(prefix);
  const userKey = `${keys.pairingUserPrefix}${request.userId}`;
  const existing = await redis.get(userKey);
  if (existing && (await redis.exists(`${keys.pairingPrefix}${existing}`))) return existing;
  for (;;) {
    const code = newPairingCode();
    const stored = await redis.set(`${keys.pairingPrefix}${code}`, JSON.stringify(request), "EX", PAIRING_TTL_SECONDS, "NX");
    if (stored !== "OK") continue;
    await redis.set(userKey, code, "EX", PAIRING_TTL_SECONDS);
    return code;
  }
}

// KEYS: code, paired set, user prefix. Takes the code once: admits its user, forgets the code.
const REDEEM_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local ok, request = pcall(cjson.decode, raw)
if not ok or type(request) ~= 'table' or not request.userId then return false end
redis.call('SADD', KEYS[2], string.format('%d', request.userId))
redis.call('DEL', KEYS[1], KEYS[3] .. string.format('%d', request.userId))
return raw
`;

/** Admits the user a code was given to; undefined for an unknown or expired code. */
export async function redeemPairingCode(redis: Redis, prefix: string, code: string): Promise<PairingRequest | undefined> {
  const normalised = code.trim().toUpperCase();
  if (!/^[A-Z0-9]{1,32}$/.test(normalised)) return undefined;
  const keys = telegramKeys(prefix);
  const raw = (await redis.eval(REDEEM_SCRIPT, 3, `${keys.pairingPrefix}${normalised}`, keys.paired, keys.pairingUserPrefix)) as string | null;
  if (!raw) return undefined;
  const { userId, chatId } = JSON.parse(raw) as PairingRequest;
  return { userId, chatId };
}

export async function isPaired(redis: Redis, prefix: string, userId: number): Promise<boolean> {
  return (await redis.sismember(telegramKeys(prefix).paired, String(userId))) === 1;
}
