// A fake OpenAI-compatible model on 127.0.0.1 for driving the real pi in tests: it records every
// chat request (the `messages` show exactly what reached the model) and answers with a scripted
// reply, streamed as server-sent events the way pi's `openai-completions` client expects.
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** One message of a chat request; `content` is a string or an array of parts like `{ type: "text", text }`. */
export interface ChatMessage {
  role: string;
  content: unknown;
  [key: string]: unknown;
}

/** The JSON body of a POST /v1/chat/completions, as received. */
export interface ChatRequest {
  model?: string;
  messages: ChatMessage[];
  stream?: boolean;
  [key: string]: unknown;
}

/** The reply: fixed text, or computed from the request (e.g. echo the last user message). */
export type Reply = string | ((request: ChatRequest) => string);

export interface FakeModel {
  readonly port: number;
  /** `http://127.0.0.1:<port>/v1`, what models.json's `baseUrl` needs */
  readonly baseUrl: string;
  /** every chat request body, oldest first (live array) */
  readonly requests: readonly ChatRequest[];
  /** changes the reply for the requests that follow */
  setReply(reply: Reply): void;
  /** holds every streamed reply back this long, or as long as the function says for that request (keeps pi busy) */
  setDelay(ms: number | ((request: ChatRequest) => number)): void;
  /**
   * the prompt tokens every reply reports (default 10), or per request: above the context window
   * less pi's reserve, pi compacts after the turn
   */
  setPromptTokens(tokens: number | ((request: ChatRequest) => number)): void;
  /** holds every streamed reply back until the returned function is called (keeps pi in its turn for as long as a test needs) */
  hold(): () => void;
  /**
   * Resolves with the first request (already received or still to come) whose messages contain
   * `match` (a substring, a regex, or a predicate); rejects after `timeoutMs` listing what did arrive.
   */
  waitForRequest(match: string | RegExp | ((request: ChatRequest) => boolean), timeoutMs?: number): Promise<ChatRequest>;
  /** stops listening and drops open connections */
  close(): Promise<void>;
}

export const FAKE_PROVIDER = "fake";
export const FAKE_MODEL_ID = "fake-1";

/** The plain text of one message: string content as is, text parts joined, anything else as JSON. */
export function messageText(message: ChatMessage): string {
  const { content } = message;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) =>
        part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string" ? (part as { text: string }).text : JSON.stringify(part),
      )
      .join("\n");
  }
  return content === undefined || content === null ? "" : JSON.stringify(content);
}

/** A compaction's summary request (pi's summarization system prompt), not a turn of the conversation. */
export function isSummaryRequest(request: ChatRequest): boolean {
  return request.messages.some((m) => m.role === "system" && messageText(m).includes("context summarization assistant"));
}

/** The user messages after the last assistant message: what this request asks about (earlier ones are history). */
export function newestUserTexts(request: ChatRequest): string[] {
  const texts: string[] = [];
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i]!;
    if (message.role === "assistant") break;
    if (message.role === "user") texts.push(messageText(message));
  }
  return texts;
}

/** All messages of a request as `role: text` lines, for matching and for error messages. */
export function requestText(request: ChatRequest): string {
  return (request.messages ?? []).map((m) => `${m.role}: ${messageText(m)}`).join("\n");
}

/** Starts the fake model on a random free port of 127.0.0.1. Default reply: "OK". */
export async function startFakeModel(options: { reply?: Reply } = {}): Promise<FakeModel> {
  const requests: ChatRequest[] = [];
  let reply: Reply = options.reply ?? "OK";
  let delay: number | ((request: ChatRequest) => number) = 0;
  let promptTokens: number | ((request: ChatRequest) => number) = 10;
  let gate: Promise<void> | undefined;
  const waiters = new Set<() => void>();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(error) } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (req.method === "GET" && path.endsWith("/models")) {
      json(res, 200, { object: "list", data: [{ id: FAKE_MODEL_ID, object: "model", created: 0, owned_by: "fake" }] });
      return;
    }
    if (req.method !== "POST" || !path.endsWith("/chat/completions")) {
      json(res, 404, { error: { message: `fake model: no route for ${req.method} ${req.url}` } });
      return;
    }
    let body: ChatRequest;
    try {
      body = JSON.parse(await readBody(req)) as ChatRequest;
    } catch (error) {
      json(res, 400, { error: { message: `fake model: request body is not JSON: ${String(error)}` } });
      return;
    }
    if (!Array.isArray(body.messages)) body.messages = [];
    requests.push(body);
    for (const wake of [...waiters]) wake();

    const text = typeof reply === "function" ? reply(body) : reply;
    const id = `chatcmpl-fake-${requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    const model = body.model ?? FAKE_MODEL_ID;
    const prompt = typeof promptTokens === "function" ? promptTokens(body) : promptTokens;
    const completion = Math.max(1, text.length >> 2);
    const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    if (!body.stream) {
      json(res, 200, {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
        usage,
      });
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const delayMs = typeof delay === "function" ? delay(body) : delay;
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (gate) await gate;
    const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, ...choice }], ...extra })}\n\n`);
    // a few deltas rather than one, so clients really assemble a stream
    const pieces = text.match(/\S+\s*|\s+/g) ?? [""];
    for (const [i, piece] of pieces.entries()) chunk({ delta: i === 0 ? { role: "assistant", content: piece } : { content: piece }, finish_reason: null });
    chunk({ delta: {}, finish_reason: "stop" }, { usage });
    res.end("data: [DONE]\n\n");
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    setReply(next) {
      reply = next;
    },
    setDelay(ms) {
      delay = ms;
    },
    setPromptTokens(tokens) {
      promptTokens = tokens;
    },
    hold() {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
    waitForRequest(match, timeoutMs = 15_000) {
      const matches = (request: ChatRequest) =>
        typeof match === "function" ? match(request) : typeof match === "string" ? requestText(request).includes(match) : match.test(requestText(request));
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = requests.find(matches);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = requests.map((r, i) => `#${i + 1}\n${requestText(r)}`).join("\n---\n");
          reject(
            new Error(
              `fake model: no request matching ${String(match)} within ${timeoutMs} ms; ` +
                `${requests.length} request(s) arrived:\n${seen.slice(-4000) || "(none)"}`,
            ),
          );
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Makes `agentDir` a hermetic pi agent dir pointing at `model`: writes `<agentDir>/models.json` with
 * provider `fake` (`openai-completions`) and one model. Returns the `--model` argument, `fake/fake-1`.
 */
export function writeFakeAgentDir(agentDir: string, model: Pick<FakeModel, "baseUrl">, modelId = FAKE_MODEL_ID): string {
  mkdirSync(agentDir, { recursive: true });
  const models = {
    providers: {
      [FAKE_PROVIDER]: {
        baseUrl: model.baseUrl,
        api: "openai-completions",
        apiKey: "fake-key",
        // plain OpenAI-compatible server: system prompt as "system", no reasoning_effort
        compat: { supportsDeveloperRole: false, supportsReasoningEffort: false },
        models: [{ id: modelId, name: "Fake test model", reasoning: false, input: ["text"], contextWindow: 128000, maxTokens: 4096 }],
      },
    },
  };
  writeFileSync(join(agentDir, "models.json"), JSON.stringify(models, null, 2) + "\n");
  return `${FAKE_PROVIDER}/${modelId}`;
}

function json(res: ServerResponse, status: number, payload: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
