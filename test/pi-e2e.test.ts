// End to end with the real pi: installed by the real CLI, pi in RPC mode against a fake model on
// 127.0.0.1, an event pushed the plain redis-cli way reaches the model inside pi's request.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createSandbox, runCli, type Sandbox } from "./helpers/cli.ts";
import { startFakeModelServer, writeFakeModelsJson, type FakeModelServer } from "./helpers/fake-model-server.ts";
import { startPi, type RpcLine } from "./helpers/pi-process.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";

const redisUrl = inject("redisUrl");
const redisPort = new URL(redisUrl).port;
let model: FakeModelServer;

beforeAll(async () => {
  model = await startFakeModelServer();
});
afterAll(() => model.close());

async function install(sandbox: Sandbox, prefix: string): Promise<string> {
  const agentDir = join(sandbox.home, "agent");
  sandbox.env.PI_CODING_AGENT_DIR = agentDir;
  const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
  expect(result.code, result.stdout + result.stderr).toBe(0);
  writeFakeModelsJson(agentDir, model);
  return agentDir;
}

const isStatus = (text: RegExp) => (line: RpcLine) =>
  line.type === "extension_ui_request" && line.method === "setStatus" && line.statusKey === "gateway" && text.test(String(line.statusText));
const redisCli = (...args: string[]) => spawnSync("redis-cli", ["-p", redisPort, ...args], { encoding: "utf8" });

describe("real pi with the installed gateway extension", () => {
  it("delivers an event pushed with redis-cli LPUSH + PUBLISH into the model's request, and a re-run sees the live session", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    const agentDir = await install(sandbox, prefix);
    const pi = await startPi({ agentDir, home: sandbox.home });
    try {
      await pi.waitForLine(isStatus(/gateway: listening on main/), 20_000, "the gateway status line");
      model.setReply("Noted the build result. HEARTBEAT_OK");
      const event = JSON.stringify({ id: "e2e-build-42", type: "build.finished", source: "ci", payload: { status: "green" }, ts: Date.now() });
      expect(redisCli("LPUSH", `${prefix}:events:main`, event).status).toBe(0);
      expect(redisCli("PUBLISH", `${prefix}:notify:main`, "x").status).toBe(0);
      const request = await model.waitForRequest("e2e-build-42", 30_000);
      const user = request.messages.filter((m) => m.role === "user").map((m) => JSON.stringify(m.content)).join("\n");
      expect(user).toContain("build.finished from ci · id e2e-build-42");
      expect(user).toContain("green");
      await pi.waitForLine((line) => line.type === "agent_end", 30_000, "the turn to end");
      expect(JSON.stringify(pi.lines)).toContain("Noted the build result.");
      expect(redisCli("LLEN", `${prefix}:events:main`).stdout.trim()).toBe("0");

      // setup again while this pi is live: verification step 3 gets an acknowledgement from it
      const again = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const live = JSON.parse(again.stdout).verification.find((c: { id: string }) => c.id === "live-session");
      expect(live).toMatchObject({ status: "ok" });
      await model.waitForRequest("gateway.smoke", 30_000);
    } finally {
      expect(await pi.stop()).toBe(0);
    }
    expect(redisCli("SISMEMBER", `${prefix}:gateway:sessions`, "main").stdout.trim()).toBe("0");
  });

  it("still starts, and says why, when the extension's node_modules are missing", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    const agentDir = await install(sandbox, prefix);
    rmSync(join(agentDir, "extensions/gateway/node_modules"), { recursive: true });
    const pi = await startPi({ agentDir, home: sandbox.home });
    try {
      const warning = await pi.waitForLine(
        (line) => line.type === "extension_ui_request" && line.method === "notify" && /cannot load ioredis/.test(String(line.message)),
        20_000,
        "the ioredis warning",
      );
      expect(warning.notifyType).toBe("warning");
      pi.send({ id: "s2", type: "get_state" });
      await pi.waitForLine((line) => line.id === "s2" && line.type === "response", 10_000, "pi to keep answering");
    } finally {
      expect(await pi.stop()).toBe(0);
    }
  });
});
