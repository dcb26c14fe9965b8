// A fake Telegram Bot API on 127.0.0.1 for driving the real grammY client in tests: it serves
// `/bot<token>/<method>` for what the gateway calls, keeps unconfirmed updates until a getUpdates
// `offset` confirms them (long polling answers as soon as an update is queued), records every
// request and every message sent, and answers errors on demand (429/409/401/500, a revoked token).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const FAKE_BOT = { id: 7_000_000_001, username: "gateway_test_bot", first_name: "Gateway Test" };

export interface SentMessage {
  chatId: number;
  text: string;
  messageId: number;
}

export interface RecordedRequest {
  method: string;
  params: Record<string, unknown>;
}

export interface InjectedMessage {
  userId: number;
  /** the private chat's id: the user's id unless given */
  chatId?: number;
  /** omit for a non-text message (a sticker) */
  text?: string;
  chatType?: "private" | "group";
}

export interface Failure {
  status: 429 | 409 | 401 | 500 | 400 | 403;
  /** seconds, for 429 */
  retryAfter?: number;
  /** how many calls fail (default 1); Infinity until `recover(method)` */
  times?: number;
  /** this many calls succeed first (default 0) */
  after?: number;
  description?: string;
}

export interface FakeTelegram {
  readonly token: string;
  /** what `apiRoot` needs: `http://127.0.0.1:<port>` */
  readonly apiRoot: string;
  /** every message sent, in order (live array) */
  readonly sent: readonly SentMessage[];
  /** every request with a valid token, in order (live array) */
  readonly requests: readonly RecordedRequest[];
  /** queues a message update; the user's chat becomes one the bot may write to */
  injectMessage(message: InjectedMessage): number;
  /** marks a chat as one that wrote to the bot (as if the user had sent /start earlier) */
  knowChat(chatId: number): void;
  /** resolves with the sent messages once `predicate` holds for them (checked on every send) */
  waitForSent(predicate: (sent: readonly SentMessage[]) => boolean, timeoutMs?: number): Promise<readonly SentMessage[]>;
  /** resolves with the first request (already received or still to come) that matches */
  waitForRequest(predicate: (request: RecordedRequest, index: number) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** the next `times` calls of `method` ("*" for any) answer this error */
  failNext(method: string, failure: Failure): void;
  /** ends a failure mode started with `times: Infinity` (all of them without a method) */
  recover(method?: string): void;
  /** every call answers 401 until `restoreToken()` */
  revokeToken(): void;
  restoreToken(): void;
  /** what getWebhookInfo reports; while set, getUpdates answers 409 as Telegram does (deleteWebhook clears it) */
  setWebhook(url: string): void;
  readonly webhookUrl: string;
  /** queues every confirmed update again, as Telegram does when the confirmation never reached it (a poller killed mid-batch) */
  replayConfirmed(): void;
  /** updates queued and not yet confirmed */
  readonly unconfirmed: number;
  close(): Promise<void>;
}

const DESCRIPTIONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden: bot was blocked by the user",
  409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
  429: "Too Many Requests: retry after",
  500: "Internal Server Error",
};

interface Update {
  update_id: number;
  message: Record<string, unknown>;
}

interface Waiter<T> {
  check(): T | undefined;
  resolve(value: T): void;
}

export async function startFakeTelegram(token = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"): Promise<FakeTelegram> {
  const sent: SentMessage[] = [];
  const requests: RecordedRequest[] = [];
  const updates: Update[] = [];
  const confirmed: Update[] = [];
  const knownChats = new Set<number>();
  const failures = new Map<string, Failure & { remaining: number; skip: number }>();
  const pollers = new Set<() => void>();
  const waiters = new Set<Waiter<unknown>>();
  let nextUpdateId = 500_000 + Math.floor(Math.random() * 1000);
  let nextMessageId = 1;
  let revoked = false;
  let webhookUrl = "";

  function notifyWaiters(): void {
    for (const waiter of waiters) {
      const value = waiter.check();
      if (value !== undefined) {
        waiters.delete(waiter);
        waiter.resolve(value);
      }
    }
  }

  function waitUntil<T>(check: () => T | undefined, what: () => string, timeoutMs: number): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter as Waiter<unknown>);
        reject(new Error(`fake Telegram: timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const waiter: Waiter<T> = {
        check,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
      };
      waiters.add(waiter as Waiter<unknown>);
    });
  }

  function takeFailure(method: string): Failure | undefined {
    for (const key of [method, "*"]) {
      const failure = failures.get(key);
      if (!failure) continue;
      if (failure.skip > 0) {
        failure.skip -= 1;
        return undefined;
      }
      failure.remaining -= 1;
      if (failure.remaining <= 0) failures.delete(key);
      return failure;
    }
    return undefined;
  }

  function answer(res: ServerResponse, status: number, body: unknown): undefined {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  function answerError(res: ServerResponse, status: number, description: string, parameters?: Record<string, unknown>): undefined {
    answer(res, status, { ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) });
  }

  function pendingFrom(offset: number | undefined, limit: number): Update[] {
    if (offset !== undefined && offset > 0) {
      while (updates.length > 0 && updates[0]!.update_id < offset) confirmed.push(updates.shift()!);
    }
    return updates.slice(0, limit);
  }

  function getUpdates(req: IncomingMessage, res: ServerResponse, params: Record<string, unknown>): undefined {
    if (webhookUrl)
      return answerError(res, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    const offset = params.offset === undefined ? undefined : Number(params.offset);
    const limit = params.limit === undefined ? 100 : Number(params.limit);
    const timeout = params.timeout === undefined ? 0 : Number(params.timeout);
    const ready = pendingFrom(offset, limit);
    if (ready.length > 0 || timeout <= 0) return answer(res, 200, { ok: true, result: ready });
    // a kept-alive socket carries many polls: the listener goes with the poll it belongs to
    const gone = (): void => {
      clearTimeout(timer);
      pollers.delete(finish);
    };
    const finish = (): void => {
      gone();
      req.socket.off("close", gone);
      answer(res, 200, { ok: true, result: pendingFrom(offset, limit) });
    };
    const timer = setTimeout(finish, timeout * 1000);
    pollers.add(finish);
    req.socket.once("close", gone);
  }

  function sendMessage(res: ServerResponse, params: Record<string, unknown>): undefined {
    const chatId = Number(params.chat_id);
    const text = typeof params.text === "string" ? params.text : "";
    if (text.trim() === "") return answerError(res, 400, "Bad Request: message text is empty");
    if (text.length > 4096) return answerError(res, 400, "Bad Request: message is too long");
    if (!knownChats.has(chatId)) return answerError(res, 403, "Forbidden: bot can't initiate conversation with a user");
    const message = { chatId, text, messageId: nextMessageId++ };
    sent.push(message);
    notifyWaiters();
    answer(res, 200, {
      ok: true,
      result: {
        message_id: message.messageId,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: "private" },
        from: { ...FAKE_BOT, is_bot: true },
        text,
      },
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse, params: Record<string, unknown>): undefined {
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(new URL(req.url ?? "/", "http://x").pathname);
    if (!match) return answerError(res, 404, "Not Found");
    const [, givenToken, method] = match as unknown as [string, string, string];
    if (givenToken !== token || revoked) return answerError(res, 401, "Unauthorized");
    requests.push({ method, params });
    notifyWaiters();
    const failure = takeFailure(method);
    if (failure) {
      const description = failure.description ?? DESCRIPTIONS[failure.status] ?? "Error";
      if (failure.status === 429) {
        const retryAfter = failure.retryAfter ?? 1;
        return answerError(res, 429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter });
      }
      return answerError(res, failure.status, description);
    }
    switch (method) {
      case "getMe":
        return answer(res, 200, {
          ok: true,
          result: { ...FAKE_BOT, is_bot: true, can_join_groups: false, can_read_all_group_messages: false, supports_inline_queries: false },
        });
      case "getWebhookInfo":
        return answer(res, 200, { ok: true, result: { url: webhookUrl, has_custom_certificate: false, pending_update_count: updates.length } });
      case "deleteWebhook":
        webhookUrl = "";
        if (params.drop_pending_updates === true) updates.length = 0;
        return answer(res, 200, { ok: true, result: true });
      case "getUpdates":
        return getUpdates(req, res, params);
      case "sendMessage":
        return sendMessage(res, params);
      case "getChat":
        if (!knownChats.has(Number(params.chat_id))) return answerError(res, 400, "Bad Request: chat not found");
        return answer(res, 200, { ok: true, result: { id: Number(params.chat_id), type: "private" } });
      case "sendChatAction":
      case "setMyCommands":
        return answer(res, 200, { ok: true, result: true });
      default:
        return answerError(res, 404, "Not Found: method not found");
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      let params: Record<string, unknown>;
      try {
        params = parseParams(req, Buffer.concat(chunks).toString("utf8"));
      } catch (error) {
        return answerError(res, 400, `Bad Request: ${(error as Error).message}`);
      }
      handle(req, res, params);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    token,
    apiRoot: `http://127.0.0.1:${port}`,
    sent,
    requests,
    injectMessage({ userId, chatId = userId, text, chatType = "private" }) {
      const updateId = nextUpdateId++;
      const message: Record<string, unknown> = {
        message_id: nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        from: { id: userId, is_bot: false, first_name: `User ${userId}` },
        chat: chatType === "private" ? { id: chatId, type: "private", first_name: `User ${userId}` } : { id: chatId, type: "group", title: "A group" },
      };
      if (text === undefined)
        message.sticker = { file_id: "sticker", file_unique_id: "sticker", type: "regular", width: 512, height: 512, is_animated: false, is_video: false };
      else {
        message.text = text;
        const command = /^\/\S+/.exec(text);
        if (command) message.entities = [{ type: "bot_command", offset: 0, length: command[0].length }];
      }
      knownChats.add(chatId);
      updates.push({ update_id: updateId, message });
      for (const finish of [...pollers]) finish();
      return updateId;
    },
    knowChat(chatId) {
      knownChats.add(chatId);
    },
    waitForSent(predicate, timeoutMs = 10_000) {
      return waitUntil(
        () => (predicate(sent) ? sent : undefined),
        () => `sent messages matching; sent so far: ${JSON.stringify(sent.map((m) => ({ chatId: m.chatId, text: m.text.slice(0, 80) })))}`,
        timeoutMs,
      );
    },
    waitForRequest(predicate, timeoutMs = 10_000) {
      return waitUntil(
        () => requests.find(predicate),
        () => `a matching request; requests: ${requests.map((r) => r.method).join(", ")}`,
        timeoutMs,
      );
    },
    failNext(method, failure) {
      failures.set(method, { ...failure, remaining: failure.times ?? 1, skip: failure.after ?? 0 });
    },
    recover(method) {
      if (method === undefined) failures.clear();
      else failures.delete(method);
    },
    revokeToken() {
      revoked = true;
    },
    restoreToken() {
      revoked = false;
    },
    setWebhook(url) {
      webhookUrl = url;
    },
    get webhookUrl() {
      return webhookUrl;
    },
    replayConfirmed() {
      updates.unshift(...confirmed.splice(0));
      for (const finish of [...pollers]) finish();
    },
    get unconfirmed() {
      return updates.length;
    },
    async close() {
      for (const finish of [...pollers]) finish();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** grammY sends JSON (multipart only to upload files, which the gateway never does); a form or the query string work too. */
function parseParams(req: IncomingMessage, body: string): Record<string, unknown> {
  const query = Object.fromEntries(new URL(req.url ?? "/", "http://x").searchParams);
  const type = req.headers["content-type"] ?? "";
  if (body === "") return query;
  if (type.startsWith("application/json")) return { ...query, ...(JSON.parse(body) as Record<string, unknown>) };
  if (type.startsWith("application/x-www-form-urlencoded")) return { ...query, ...Object.fromEntries(new URLSearchParams(body)) };
  throw new Error(`unsupported content-type ${type} in the fake Bot API`);
}

/**
 * What is wrong with `chunks` as a split of `original` for Telegram, or undefined: each within
 * `limit` and not blank, in order, with only whitespace between and around them.
 */
export function splitProblem(original: string, chunks: readonly string[], limit = 4096): string | undefined {
  let position = 0;
  for (const [i, chunk] of chunks.entries()) {
    if (chunk.length > limit) return `chunk ${i} has ${chunk.length} units, over ${limit}`;
    if (chunk.trim() === "") return `chunk ${i} is blank`;
    const index = original.indexOf(chunk, position);
    if (index < 0) return `chunk ${i} (${JSON.stringify(chunk.slice(0, 30))}...) is not found in order`;
    if (original.slice(position, index).trim() !== "") return `text before chunk ${i} was lost`;
    position = index + chunk.length;
  }
  return original.slice(position).trim() === "" ? undefined : "the end of the text was lost";
}
