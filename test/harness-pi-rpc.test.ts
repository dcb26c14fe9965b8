// Proves test/helpers/pi-rpc.ts against the real pi 0.73.1: hermetic start, a throw-away extension's
// UI calls and sendUserMessage reaching the fake model, the model's reply coming back as RPC events,
// exit 0 when stdin closes.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startFakeModel, writeFakeAgentDir, type FakeModel } from "./helpers/fake-model.ts";
import { createPiSandbox, startPiRpc, type PiRpc, type PiSandbox, type RpcLine } from "./helpers/pi-rpc.ts";

let model: FakeModel;
const cleanups: (() => unknown)[] = [];
beforeAll(async () => {
  model = await startFakeModel();
});
afterAll(() => model.close());
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A sandbox pointed at the fake model, with `extensions/<name>/index.ts` = `source`. */
function sandboxWithExtension(name: string, source: string): { sandbox: PiSandbox; modelArg: string } {
  const sandbox = createPiSandbox();
  cleanups.push(() => sandbox.cleanup());
  const modelArg = writeFakeAgentDir(sandbox.agentDir, model);
  mkdirSync(join(sandbox.agentDir, "extensions", name), { recursive: true });
  writeFileSync(join(sandbox.agentDir, "extensions", name, "index.ts"), source);
  return { sandbox, modelArg };
}

async function start(sandbox: PiSandbox, modelArg: string, env: Record<string, string> = {}): Promise<PiRpc> {
  const pi = await startPiRpc({ sandbox, model: modelArg, env });
  cleanups.push(() => pi.stop(2_000));
  console.log(`pi ready after ${pi.startupMs} ms`);
  return pi;
}

const random = () => Math.random().toString(36).slice(2, 10);
const assistantText = (line: RpcLine) =>
  ((line.message as { content?: { type: string; text?: string }[] } | undefined)?.content ?? []).map((part) => part.text ?? "").join("");
const isAssistantEnd = (text: string) => (line: RpcLine) =>
  line.type === "message_end" && (line.message as { role?: string })?.role === "assistant" && assistantText(line).includes(text);

// on session_start: a status with what the extension sees of its environment, a notify, and after
// a short timer a user message; its text comes from the caller-provided env
const HELLO_EXTENSION = `
export default function (pi) {
  let timer;
  pi.on("session_start", async (_event, ctx) => {
    ctx.ui.setStatus("harness", JSON.stringify({ home: process.env.HOME, cwd: process.cwd(), agentDir: process.env.PI_CODING_AGENT_DIR, offline: process.env.PI_OFFLINE }));
    ctx.ui.notify("harness extension loaded", "info");
    clearTimeout(timer);
    timer = setTimeout(() => pi.sendUserMessage(process.env.HARNESS_HELLO, { deliverAs: "followUp" }), 300);
  });
  pi.on("session_shutdown", async () => clearTimeout(timer));
}
`;

describe("real pi in RPC mode (pi-rpc helper)", () => {
  it("starts hermetically, shows the extension's UI calls, and its sendUserMessage reaches the model whose reply comes back", async () => {
    const realPi = join(homedir(), ".pi");
    const realPiBefore = existsSync(realPi) ? statSync(realPi).mtimeMs : undefined;
    const hello = `hello-from-extension-${random()}`;
    const reply = `model-reply-${random()}`;
    model.setReply((request) => (JSON.stringify(request.messages).includes(hello) ? reply : "unrelated"));
    const { sandbox, modelArg } = sandboxWithExtension("harness", HELLO_EXTENSION);

    const pi = await start(sandbox, modelArg, { HARNESS_HELLO: hello });
    expect(pi.state.model).toMatchObject({ provider: "fake", id: "fake-1" });

    const status = await pi.waitForLine((l) => l.type === "extension_ui_request" && l.method === "setStatus", { what: "the extension's setStatus" });
    expect(status).toMatchObject({ type: "extension_ui_request", method: "setStatus", statusKey: "harness", id: expect.any(String) });
    expect(JSON.parse(String(status.statusText))).toEqual({ home: sandbox.home, cwd: sandbox.cwd, agentDir: sandbox.agentDir, offline: "1" });
    expect(pi.uiRequests("notify")).toEqual([expect.objectContaining({ message: "harness extension loaded", notifyType: "info" })]);

    const request = await model.waitForRequest(hello, 20_000);
    expect(request.stream).toBe(true);
    expect(request.messages.at(-1)).toMatchObject({ role: "user" });
    expect(JSON.stringify(request.messages.at(-1))).toContain(hello);
    await pi.waitForLine(isAssistantEnd(reply), { timeoutMs: 20_000, what: "the model's reply as a message_end" });
    await pi.waitForLine((l) => l.type === "agent_end", { timeoutMs: 20_000, what: "agent_end" });
    expect(pi.lines.some((l) => l.type === "message_update")).toBe(true); // streamed to the client too
    expect(pi.extensionErrors()).toEqual([]);

    const exit = await pi.stop();
    expect(exit).toEqual({ code: 0, signal: null, killed: false });
    // nothing of pi's state escaped the sandbox
    expect(existsSync(realPi) ? statSync(realPi).mtimeMs : undefined).toBe(realPiBefore);
    expect(readdirSync(sandbox.cwd)).toEqual([]);
    console.log(`sandbox home after the run: ${JSON.stringify(readdirSync(sandbox.home))}, agent dir: ${JSON.stringify(readdirSync(sandbox.agentDir))}`);
  });

  it("answers prompts sent over RPC, reports extension errors, and exits 0 when stdin closes", async () => {
    const { sandbox, modelArg } = sandboxWithExtension(
      "thrower",
      `export default function (pi) { pi.on("agent_start", async () => { throw new Error("harness-boom"); }); }`,
    );
    const pi = await start(sandbox, modelArg);
    model.setReply("pong-from-model");
    const response = await pi.request({ type: "prompt", message: "ping-from-test" });
    expect(response).toMatchObject({ type: "response", command: "prompt", success: true });
    await model.waitForRequest("ping-from-test", 20_000);
    await pi.waitForLine(isAssistantEnd("pong-from-model"), { timeoutMs: 20_000, what: "the reply" });
    await pi.waitForLine((l) => l.type === "extension_error", { what: "the extension_error" });
    expect(pi.extensionErrors()[0]).toMatchObject({ event: "agent_start", error: expect.stringContaining("harness-boom"), extensionPath: expect.stringContaining("thrower") });

    const state = await pi.request({ type: "get_state" });
    expect(state).toMatchObject({ success: true, data: { isStreaming: false } });
    expect(await pi.stop()).toEqual({ code: 0, signal: null, killed: false });
  });

  it("fails fast with pi's stderr when pi cannot start", async () => {
    const sandbox = createPiSandbox();
    cleanups.push(() => sandbox.cleanup());
    // no models.json: the model cannot be resolved
    const error = await startPiRpc({ sandbox, model: "fake/missing", readyTimeoutMs: 30_000 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/pi exited \(code [1-9]\d*, signal null\) while waiting for the get_state answer/);
    expect((error as Error).message).toMatch(/stderr:\n(?!\(empty\))/);
  });
});
