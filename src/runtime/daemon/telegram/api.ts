// Plain Bot API calls for setup and doctor (no polling, no grammY): the token check, the webhook.
import { type Scrub, tokenScrubber } from "./token-scrubber.ts";

export const DEFAULT_API_ROOT = "https://api.telegram.org";

/** The Bot API root without trailing slashes (grammY refuses one); Telegram's own when not given. */
export function normaliseApiRoot(apiRoot: string | undefined): string {
  const root = apiRoot?.trim() || DEFAULT_API_ROOT;
  return root.replace(/\/+$/, "");
}

export type CallResult<T> = { ok: true; result: T } | { ok: false; status?: number; message: string };

/** One Bot API call with a JSON body; every failure comes back as data, scrubbed of the token. */
export async function telegramCall<T>(
  token: string,
  apiRoot: string | undefined,
  method: string,
  params: Record<string, unknown> = {},
  timeoutMs = 10_000,
): Promise<CallResult<T>> {
  const scrub = tokenScrubber(token);
  if (!/^\d+:[A-Za-z0-9_-]+$/.test(token)) return { ok: false, message: "this is not a bot token (BotFather gives one like 123456789:AA...)" };
  try {
    const response = await fetch(`${normaliseApiRoot(apiRoot)}/bot${token}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(params),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json().catch(() => undefined)) as { ok?: boolean; result?: T; error_code?: number; description?: string } | undefined;
    if (body?.ok === true) return { ok: true, result: body.result as T };
    return { ok: false, status: body?.error_code ?? response.status, message: scrub(body?.description ?? `HTTP ${response.status} ${response.statusText}`) };
  } catch (error) {
    return { ok: false, message: networkMessage(error, scrub) };
  }
}

function networkMessage(error: unknown, scrub: Scrub): string {
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
  return scrub(`cannot reach the Bot API: ${detail}`);
}

export type TokenCheck = { ok: true; username: string; id: number } | { ok: false; status?: number; message: string };

/** `getMe` with the token: the bot's @name when the token works (for setup, before anything is written). */
export async function checkBotToken(token: string, apiRoot?: string): Promise<TokenCheck> {
  const answer = await telegramCall<{ id: number; username?: string }>(token, apiRoot, "getMe");
  if (!answer.ok) return answer;
  return { ok: true, username: answer.result.username ?? "", id: answer.result.id };
}

/** The webhook URL Telegram has for the bot ("" when none): a webhook blocks long polling (409). */
export async function webhookUrl(token: string, apiRoot?: string): Promise<CallResult<string>> {
  const answer = await telegramCall<{ url: string }>(token, apiRoot, "getWebhookInfo");
  return answer.ok ? { ok: true, result: answer.result.url } : answer;
}

/** Removes a webhook so long polling works (doctor --fix); pending updates are kept. */
export async function deleteWebhook(token: string, apiRoot?: string): Promise<CallResult<boolean>> {
  return telegramCall<boolean>(token, apiRoot, "deleteWebhook", { drop_pending_updates: false });
}

/**
 * Whether the bot may write to this user: Telegram knows the chat only after the user wrote to the
 * bot (sent /start) once; before that getChat answers "chat not found" (for doctor's owner check).
 */
export async function chatKnown(token: string, apiRoot: string | undefined, chatId: number): Promise<CallResult<boolean>> {
  const answer = await telegramCall<{ id: number }>(token, apiRoot, "getChat", { chat_id: chatId });
  if (answer.ok) return { ok: true, result: true };
  if (answer.status === 400 || answer.status === 403) return { ok: true, result: false };
  return answer;
}
