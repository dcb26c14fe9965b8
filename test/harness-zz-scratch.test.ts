import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "vitest";
import { startFakeModel, writeFakeAgentDir, requestText } from "./helpers/fake-model.ts";
import { createPiSandbox, startPiRpc } from "./helpers/pi-rpc.ts";

async function run(label: string, ext: string, drive?: (pi: any) => Promise<void>) {
  const model = await startFakeModel({ reply: (r) => `reply#${r.messages.length}` });
  const sandbox = createPiSandbox();
  const modelArg = writeFakeAgentDir(sandbox.agentDir, model);
  mkdirSync(join(sandbox.agentDir, "extensions/x"), { recursive: true });
  writeFileSync(join(sandbox.agentDir, "extensions/x/index.ts"), ext);
  let pi;
  try {
    pi = await startPiRpc({ sandbox, model: modelArg });
  } catch (e) { console.log(label, "START FAILED", String(e).slice(0, 1500)); return; }
  if (drive) await drive(pi);
  await new Promise((r) => setTimeout(r, 2500));
  const exit = await pi.stop();
  console.log(`== ${label}: exit ${JSON.stringify(exit)}; requests:\n` + model.requests.map((r) => requestText(r).replace(/^system:[\s\S]*?\nuser:/, "user:")).join("\n--\n"));
  console.log(pi.lines.filter((l: any) => !["message_update"].includes(l.type)).map((l: any) => JSON.stringify(l).slice(0, 300)).join("\n"));
  console.log("stderr:", pi.stderr().slice(0, 1000));
  await model.close();
  sandbox.cleanup();
}

it("agent_end sendUserMessage", async () => {
  await run("agent_end", `export default function (pi) { let n = 0; pi.on("agent_end", async () => { if (n++ < 1) pi.sendUserMessage("from-agent-end", { deliverAs: "followUp" }); }); }`,
    async (pi) => { pi.send({ type: "prompt", message: "first" }); });
}, 30000);
it("two in a row idle", async () => {
  await run("two-idle", `export default function (pi) { pi.on("session_start", async () => { setTimeout(() => { pi.sendUserMessage("one", { deliverAs: "followUp" }); pi.sendUserMessage("two", { deliverAs: "followUp" }); }, 300); }); }`);
}, 30000);
it("sync in session_start", async () => {
  await run("sync-session-start", `export default function (pi) { pi.on("session_start", async () => { pi.sendUserMessage("during-session-start", { deliverAs: "followUp" }); }); }`);
}, 30000);
it("throw in session_start", async () => {
  await run("throw-session-start", `export default function (pi) { pi.on("session_start", async (_e, ctx) => { ctx.ui.notify("n1"); throw new Error("boom-ss"); }); }`);
}, 30000);
it("import failure", async () => {
  await run("import-fail", `import x from "does-not-exist-pkg"; export default function (pi) {}`);
}, 30000);
it("setStatus clear + notify types", async () => {
  await run("ui", `export default function (pi) { pi.on("session_start", async (_e, ctx) => { ctx.ui.setStatus("k", "v"); ctx.ui.setStatus("k", undefined); ctx.ui.notify("w", "warning"); ctx.ui.notify("plain"); }); }`);
}, 30000);
