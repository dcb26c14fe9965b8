// The installed daemon's config: `<agentDir>/gateway/daemon.json` (mode 0600), written by setup
// and read at every start. The DaemonConfig fields plus a `telegram` section; the bot token is never
// in it: it is GATEWAY_TELEGRAM_TOKEN in the 0600 secrets file, beside GATEWAY_REDIS_PASSWORD.
import { type DaemonConfig, DaemonConfigError, parseDaemonConfig, readDaemonConfigJson } from "./config.ts";

export const DAEMON_CONFIG_FILE = "daemon.json";
export const TELEGRAM_TOKEN_KEY = "GATEWAY_TELEGRAM_TOKEN";

export interface TelegramSection {
  /** another Bot API server (self-hosted, or a fake one in tests); default Telegram's own */
  apiRoot?: string;
  /** user ids allowed to talk to the bot; the first is the owner */
  allow: number[];
  /** unknown users get a one-time pairing code (`gateway-setup pair <code>` admits them) */
  pairing: boolean;
  /** where background, heartbeat and alert replies go (default: the owner) */
  notify?: number[];
  /** tuning, for tests: getUpdates' long-poll timeout (default 30 s) */
  pollTimeoutSeconds?: number;
  /** tuning, for tests: the first wait after a 5xx or network failure, and the most (default 1 s, 60 s) */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** tuning, for tests: the pause before polling again after 401/409 (default 30 s) */
  restartPauseMs?: number;
}

export interface InstalledDaemon {
  config: DaemonConfig;
  /** absent: the daemon serves Redis events only */
  telegram?: TelegramSection;
}

/** Reads and checks the whole file; every problem is a DaemonConfigError naming the file and the field. */
export function loadInstalledDaemon(path: string): InstalledDaemon {
  const raw = readDaemonConfigJson(path);
  const config = parseDaemonConfig(raw, path);
  const section = (raw as Record<string, unknown>).telegram;
  if (section === undefined || section === null) return { config };
  return { config, telegram: parseTelegramSection(section, `${path}: telegram`) };
}

const TUNING = ["pollTimeoutSeconds", "initialBackoffMs", "maxBackoffMs", "restartPauseMs"] as const;

export function parseTelegramSection(raw: unknown, where = "telegram"): TelegramSection {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new DaemonConfigError(`${where}: expected a JSON object`);
  const fields = raw as Record<string, unknown>;
  const fail = (key: string, problem: string): never => {
    throw new DaemonConfigError(`${where}: ${key} ${problem}`);
  };
  const allow = idList(fields.allow ?? [], (id) => id > 0) ?? fail("allow", "must be a list of Telegram user ids (positive integers)");
  if (fields.pairing !== undefined && typeof fields.pairing !== "boolean") fail("pairing", "must be true or false");
  const pairing = fields.pairing === true;
  if (allow.length === 0 && !pairing) {
    fail(
      "allow",
      "is empty and pairing is off: a bot open to everyone is never run. Give user ids (--telegram-allow) or turn pairing on, and re-run `gateway-setup`",
    );
  }
  const section: TelegramSection = { allow, pairing };
  if (fields.apiRoot !== undefined) {
    if (typeof fields.apiRoot !== "string" || !/^https?:\/\/\S+$/.test(fields.apiRoot)) fail("apiRoot", "must be an http(s) URL");
    section.apiRoot = fields.apiRoot as string;
  }
  if (fields.notify !== undefined) {
    // a notify chat may be a group (negative id)
    section.notify = idList(fields.notify, (id) => id !== 0) ?? fail("notify", "must be a list of Telegram chat ids (non-zero integers)");
  }
  for (const key of TUNING) {
    const value = fields[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) fail(key, "must be a positive number");
    section[key] = value as number;
  }
  return section;
}

function idList(value: unknown, valid: (id: number) => boolean): number[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.every((id) => Number.isSafeInteger(id) && valid(id)) ? (value as number[]) : undefined;
}
