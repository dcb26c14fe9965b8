// Proves test/helpers/pi-rpc.ts against the real pi 0.73.1: hermetic start, a throw-away extension's
// UI calls and sendUserMessage reaching the fake model, the model's reply coming back as RPC events,
// exit 0 when stdin closes.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeModel, startFakeModel, writeFakeAgentDir } from "./helpers/fake-model.ts";
import { createPiSandbox, type PiRpc, type PiSandbox, type RpcLine, startPiRpc } from "./helpers/pi-rpc.ts";
import { waitFor } from "./helpers/wait.ts";

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
    ctx.ui.setStatus(
      "harness",
      JSON.stringify({ home: process.env.HOME, cwd: process.cwd(), agentDir: process.env.PI_CODING_AGENT_DIR, offline: process.env.PI_OFFLINE }),
    );
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
    // the notify is a line of its own, written after the setStatus: it may come in a later chunk of stdout
    await pi.waitForLine((l) => l.type === "extension_ui_request" && l.method === "notify", { what: "the extension's notify" });
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
    expect(pi.extensionErrors()[0]).toMatchObject({
      event: "agent_start",
      error: expect.stringContaining("harness-boom"),
      extensionPath: expect.stringContaining("thrower"),
    });

    const state = await pi.request({ type: "get_state" });
    expect(state).toMatchObject({ success: true, data: { isStreaming: false } });
    expect(await pi.stop()).toEqual({ code: 0, signal: null, killed: false });
  });

  it("fails fast with pi's stderr when pi cannot start (an extension whose import fails: exit 1)", async () => {
    // the import must be used: an unused import is elided by the TypeScript transform and never fails
    const { sandbox, modelArg } = sandboxWithExtension("broken", `import missing from "no-such-package-gw"; export default function () { void missing; }`);
    const error = await startPiRpc({ sandbox, model: modelArg }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/pi exited \(code 1, signal null\) while waiting for the get_state answer/);
    expect((error as Error).message).toMatch(/Failed to load extension .*broken.*Cannot find module 'no-such-package-gw'/);
  });
});

// Behaviour of pi 0.73.1 that the gateway extension has to live with; if a pi upgrade changes any
// of it, these fail first.
describe("pi quirks around sendUserMessage", () => {
  it("inside agent_end a followUp is only queued (delivered with the next run); deferred with setTimeout it starts a run", async () => {
    const stuck = `stuck-${random()}`;
    const deferred = `deferred-${random()}`;
    const { sandbox, modelArg } = sandboxWithExtension(
      "agent-end",
      `export default function (pi) {
        let runs = 0;
        pi.on("agent_end", async () => {
          runs += 1;
          if (runs === 1) pi.sendUserMessage("${stuck}", { deliverAs: "followUp" });
          if (runs === 2) setTimeout(() => pi.sendUserMessage("${deferred}", { deliverAs: "followUp" }), 0);
        });
      }`,
    );
    model.setReply("ok");
    const pi = await start(sandbox, modelArg);
    await pi.request({ type: "prompt", message: "first-prompt" });
    const queued = await pi.waitForLine((l) => l.type === "queue_update" && JSON.stringify(l.followUp) === JSON.stringify([stuck]), {
      timeoutMs: 20_000,
      what: "the queued follow-up",
    });
    expect(queued).toEqual({ type: "queue_update", steering: [], followUp: [stuck] });
    await pi.waitForLine((l) => l.type === "agent_end", { timeoutMs: 20_000, what: "agent_end" });
    // pi has gone idle after its run with the follow-up still queued: nothing is left to start a run for it
    await waitFor(
      async () => ((await pi.request({ type: "get_state" })).data as { isStreaming?: boolean } | undefined)?.isStreaming === false,
      "pi to go idle after the run",
      20_000,
    );
    expect(model.requests.some((r) => JSON.stringify(r.messages).includes(stuck))).toBe(false); // stuck in the queue
    expect((await pi.request({ type: "get_state" })).data).toMatchObject({ isStreaming: false, pendingMessageCount: 1 });

    // the next run delivers it after its own turn; that run's agent_end defers the next message
    await pi.request({ type: "prompt", message: "second-prompt" });
    await model.waitForRequest(stuck, 20_000);
    const last = await model.waitForRequest(deferred, 20_000);
    expect(last.messages.filter((m) => m.role === "user").map((m) => JSON.stringify(m.content))).toEqual([
      expect.stringContaining("first-prompt"),
      expect.stringContaining("second-prompt"),
      expect.stringContaining(stuck),
      expect.stringContaining(deferred),
    ]);
    expect(pi.extensionErrors()).toEqual([]);
  });

  it("two sendUserMessage calls in a row while idle: the second is rejected as an extension_error, even as followUp", async () => {
    const { sandbox, modelArg } = sandboxWithExtension(
      "twice",
      `export default function (pi) {
        pi.on("session_start", async () => {
          setTimeout(() => { pi.sendUserMessage("one-${random()}", { deliverAs: "followUp" }); pi.sendUserMessage("two", { deliverAs: "followUp" }); }, 200);
        });
      }`,
    );
    const pi = await start(sandbox, modelArg);
    const error = await pi.waitForLine((l) => l.type === "extension_error", { what: "the rejected second message" });
    expect(error).toEqual({
      type: "extension_error",
      extensionPath: "<runtime>",
      event: "send_user_message",
      error: expect.stringContaining("Agent is already processing a prompt"),
    });
    await pi.waitForLine((l) => l.type === "agent_end", { timeoutMs: 20_000, what: "agent_end" });
    expect(model.requests.some((r) => JSON.stringify(r.messages).includes('"two"'))).toBe(false);
  });
});
