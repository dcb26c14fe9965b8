// Proves test/helpers/fake-model.ts with real HTTP clients: a streamed chat request is answered the
// way OpenAI's API does it, everything is recorded, and waiting fails with a useful message.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FAKE_MODEL_ID, type FakeModel, requestText, startFakeModel, writeFakeAgentDir } from "./helpers/fake-model.ts";

let model: FakeModel;
beforeEach(async () => {
  model = await startFakeModel();
});
afterEach(() => model.close());

function chat(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${model.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer fake-key" },
    body: JSON.stringify({ model: FAKE_MODEL_ID, ...body }),
  });
}

/** Reads a server-sent-event stream the way an OpenAI client does. */
async function readStream(response: Response): Promise<{ text: string; chunks: Record<string, any>[]; done: boolean }> {
  const raw = await response.text();
  const chunks: Record<string, any>[] = [];
  let done = false;
  for (const event of raw.split("\n\n")) {
    const data = event.replace(/^data: /, "").trim();
    if (!data) continue;
    if (data === "[DONE]") done = true;
    else chunks.push(JSON.parse(data));
  }
  return { text: chunks.map((c) => c.choices[0].delta.content ?? "").join(""), chunks, done };
}

describe("fake model server", () => {
  it("listens on 127.0.0.1 and answers a streamed request with deltas, a stop chunk and [DONE]", async () => {
    expect(model.baseUrl).toBe(`http://127.0.0.1:${model.port}/v1`);
    model.setReply("Hello from the fake model");
    const response = await chat({ stream: true, messages: [{ role: "user", content: "hi there" }] });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const { text, chunks, done } = await readStream(response);
    expect(text).toBe("Hello from the fake model");
    expect(chunks.length).toBeGreaterThan(2); // really streamed in pieces
    expect(chunks[0]!.choices[0].delta.role).toBe("assistant");
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe("stop");
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(done).toBe(true);
    expect(model.requests).toHaveLength(1);
    expect(model.requests[0]!.messages).toEqual([{ role: "user", content: "hi there" }]);
  });

  it("computes the reply from the request, answers non-streamed requests and lists its model", async () => {
    model.setReply((request) => `echo: ${JSON.stringify(request.messages.at(-1)?.content)}`);
    const response = await chat({
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "part one" }] },
      ],
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]).toMatchObject({ message: { role: "assistant", content: 'echo: [{"type":"text","text":"part one"}]' }, finish_reason: "stop" });
    expect(requestText(model.requests[0]!)).toBe("system: be brief\nuser: part one");

    const models = (await (await fetch(`${model.baseUrl}/models`)).json()) as any;
    expect(models.data).toEqual([expect.objectContaining({ id: FAKE_MODEL_ID, object: "model" })]);
    expect((await fetch(`${model.baseUrl}/nope`)).status).toBe(404);
    const bad = await fetch(`${model.baseUrl}/chat/completions`, { method: "POST", body: "{not json" });
    expect(bad.status).toBe(400);
    expect(model.requests).toHaveLength(1); // the malformed one is not recorded as a request
  });

  it("waitForRequest resolves for past and future requests, and times out listing what arrived", async () => {
    await chat({ messages: [{ role: "user", content: "early bird" }] });
    await expect(model.waitForRequest("early bird", 100)).resolves.toMatchObject({ messages: [{ content: "early bird" }] });

    const later = model.waitForRequest(/late-\d+/, 5_000);
    setTimeout(() => void chat({ stream: true, messages: [{ role: "user", content: "late-42" }] }), 50);
    expect(requestText(await later)).toContain("late-42");
    expect(await model.waitForRequest((r) => r.stream === true, 100)).toBe(model.requests[1]);

    const error = await model.waitForRequest("never sent", 150).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/no request matching never sent within 150 ms; 2 request\(s\) arrived/);
    expect((error as Error).message).toContain("user: early bird");
    expect((error as Error).message).toContain("user: late-42");
  });

  it("writeFakeAgentDir writes a models.json pi accepts: provider fake, openai-completions, the server's baseUrl", () => {
    const agentDir = join(mkdtempSync(join(tmpdir(), "gw-fake-")), "agent");
    try {
      expect(writeFakeAgentDir(agentDir, model)).toBe(`fake/${FAKE_MODEL_ID}`);
      const config = JSON.parse(readFileSync(join(agentDir, "models.json"), "utf8"));
      expect(config.providers.fake).toMatchObject({ api: "openai-completions", baseUrl: model.baseUrl, apiKey: expect.any(String) });
      expect(config.providers.fake.models).toEqual([expect.objectContaining({ id: FAKE_MODEL_ID })]);
    } finally {
      rmSync(join(agentDir, ".."), { recursive: true, force: true });
    }
  });
});
