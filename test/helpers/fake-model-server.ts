// A tiny OpenAI-compatible chat server on 127.0.0.1 for driving the real pi: it streams a fixed
// reply and records every request, so a test can see exactly what reached the model.
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";

export interface ChatRequest {
  model: string;
  messages: { role: string; content: unknown }[];
  stream?: boolean;
}

export interface FakeModelServer {
  port: number;
  baseUrl: string;
  requests: ChatRequest[];
  /** the text of every message of every request, joined */
  transcript(): string;
  setReply(reply: string | ((request: ChatRequest) => string)): void;
  /** resolves with the first request whose messages contain `text` */
  waitForRequest(text: string | RegExp, timeoutMs: number): Promise<ChatRequest>;
  close(): Promise<void>;
}

export const FAKE_PROVIDER = "fake";
export const FAKE_MODEL = "echo-1";

function messageText(request: ChatRequest): string {
  return request.messages.map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content))).join("\n");
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = "";
  for await (const chunk of req) body += chunk;
  return body;
}

export async function startFakeModelServer(): Promise<FakeModelServer> {
  const requests: ChatRequest[] = [];
  let reply: string | ((request: ChatRequest) => string) = "OK";
  let listeners: (() => void)[] = [];

  const server: Server = createServer(async (req, res) => {
    if (req.method === "GET" && req.url?.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: [{ id: FAKE_MODEL, object: "model" }] }));
      return;
    }
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    const request = JSON.parse(await readBody(req)) as ChatRequest;
    requests.push(request);
    for (const listener of listeners) listener();
    const text = typeof reply === "function" ? reply(request) : reply;
    const base = { id: `chatcmpl-${requests.length}`, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: request.model };
    if (!request.stream) {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({ ...base, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }] }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
    send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: text }, finish_reason: null }] });
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } });
    res.end("data: [DONE]\n\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  return {
    port,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    transcript: () => requests.map(messageText).join("\n"),
    setReply: (next) => {
      reply = next;
    },
    waitForRequest(text, timeoutMs) {
      const matches = (request: ChatRequest) => (typeof text === "string" ? messageText(request).includes(text) : text.test(messageText(request)));
      const found = requests.find(matches);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners = listeners.filter((l) => l !== check);
          reject(new Error(`no model request contained ${String(text)} within ${timeoutMs} ms; ${requests.length} request(s) arrived:\n${requests.map(messageText).join("\n---\n").slice(-3000)}`));
        }, timeoutMs);
        const check = () => {
          const hit = requests.find(matches);
          if (!hit) return;
          clearTimeout(timer);
          listeners = listeners.filter((l) => l !== check);
          resolve(hit);
        };
        listeners.push(check);
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Points a pi agent dir at the fake server (models.json), so `--model fake/echo-1` uses it. */
export function writeFakeModelsJson(agentDir: string, server: FakeModelServer): void {
  mkdirSync(agentDir, { recursive: true });
  const models = {
    providers: {
      [FAKE_PROVIDER]: {
        baseUrl: server.baseUrl,
        api: "openai-completions",
        apiKey: "fake-key",
        compat: { supportsDeveloperRole: false, supportsReasoningEffort: false },
        models: [{ id: FAKE_MODEL, name: "Fake echo model", reasoning: false, input: ["text"], contextWindow: 128000, maxTokens: 4096 }],
      },
    },
  };
  writeFileSync(join(agentDir, "models.json"), JSON.stringify(models, null, 2));
}
