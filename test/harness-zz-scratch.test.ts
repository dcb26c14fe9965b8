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


it("agent_end stuck then next prompt", async () => {
  await run("agent_end-next", `export default function (pi) { let n = 0; pi.on("agent_end", async () => { if (n++ < 1) pi.sendUserMessage("from-agent-end", { deliverAs: "followUp" }); }); }`,
    async (pi) => { pi.send({ type: "prompt", message: "first" }); await new Promise((r) => setTimeout(r, 1500)); pi.send({ type: "prompt", message: "third" }); });
}, 30000);
it("agent_end setTimeout 0", async () => {
  await run("agent_end-timeout0", `export default function (pi) { let n = 0; pi.on("agent_end", async () => { if (n++ < 1) setTimeout(() => pi.sendUserMessage("from-agent-end-deferred", { deliverAs: "followUp" }), 0); }); }`,
    async (pi) => { pi.send({ type: "prompt", message: "first" }); });
}, 30000);
it("agent_end no deliverAs", async () => {
  await run("agent_end-plain", `export default function (pi) { let n = 0; pi.on("agent_end", async () => { if (n++ < 1) pi.sendUserMessage("from-agent-end-plain"); }); }`,
    async (pi) => { pi.send({ type: "prompt", message: "first" }); });
}, 30000);
it("import failure used", async () => {
  await run("import-fail-used", `import x from "does-not-exist-pkg"; export default function (pi) { console.error(x); }`);
}, 30000);
