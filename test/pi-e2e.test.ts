// End to end with the real pi: installed by the real CLI, pi in RPC mode against a fake model on
// 127.0.0.1, events pushed the plain redis-cli way reach the model inside pi's requests.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createSandbox, runCli } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type FakeModel, requestText, startFakeModel } from "./helpers/fake-model.ts";
import { installTier1ForPi } from "./helpers/pi-install.ts";
import { createPiSandbox, type PiSandbox, type RpcLine, startPiRpc } from "./helpers/pi-rpc.ts";

const redisUrl = inject("redisUrl");
const redisPort = new URL(redisUrl).port;
let model: FakeModel;

beforeAll(async () => {
  model = await startFakeModel();
});
afterAll(() => model.close());

const install = (pi: PiSandbox, prefix: string) => installTier1ForPi(pi, { redisUrl, prefix, model });

const gatewayStatus = (text: RegExp) => (line: RpcLine) =>
  line.type === "extension_ui_request" && line.method === "setStatus" && line.statusKey === "gateway" && text.test(String(line.statusText));
const redisCli = (...args: string[]) => spawnSync("redis-cli", ["-p", redisPort, ...args], { encoding: "utf8" });
const push = (prefix: string, id: string, type = "build.finished") => {
  const event = JSON.stringify({ id, type, source: "ci", payload: { status: "green" }, ts: Date.now() });
  expect(redisCli("LPUSH", `${prefix}:events:main`, event).status).toBe(0);
  expect(redisCli("PUBLISH", `${prefix}:notify:main`, "x").status).toBe(0);
};

describe("real pi with the installed gateway extension", () => {
  it("delivers an event pushed with redis-cli LPUSH + PUBLISH into the model's request, and a re-run sees the live session", async () => {
    const sandbox = createPiSandbox();
    const prefix = randomPrefix();
    const pi = await startPiRpc({ sandbox, model: await install(sandbox, prefix) });
    try {
      await pi.waitForLine(gatewayStatus(/gateway: listening on main/), { timeoutMs: 20_000, what: "the gateway status line" });
      model.setReply("Noted the build result.");
      push(prefix, "e2e-build-42");
      const request = await model.waitForRequest("e2e-build-42", 30_000);
      expect(requestText(request)).toContain("build.finished from ci · id e2e-build-42");
      expect(requestText(request)).toContain("green");
      await pi.waitForLine((line) => line.type === "agent_end", { timeoutMs: 30_000, what: "the turn to end" });
      expect(JSON.stringify(pi.lines)).toContain("Noted the build result.");
      expect(redisCli("LLEN", `${prefix}:events:main`).stdout.trim()).toBe("0");

      // setup again while this pi is live: verification step 3 gets an acknowledgement from it
      const again = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl, "--prefix", prefix], {
        env: { ...createSandbox().env, PI_CODING_AGENT_DIR: sandbox.agentDir },
      });
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const live = JSON.parse(again.stdout).verification.find((c: { id: string }) => c.id === "live-session");
      expect(live).toMatchObject({ status: "ok" });
      // the live session acknowledged the installer's check without spending a model turn on it
      expect(model.requests.some((request) => JSON.stringify(request.messages).includes("gateway.smoke"))).toBe(false);
      expect(pi.extensionErrors()).toEqual([]);
    } finally {
      expect((await pi.stop()).code).toBe(0);
      sandbox.cleanup();
    }
    expect(redisCli("SISMEMBER", `${prefix}:gateway:sessions`, "main").stdout.trim()).toBe("0");
  });

  it("delivers what arrived during a turn in a new turn right after it", async () => {
    const sandbox = createPiSandbox();
    const prefix = randomPrefix();
    const pi = await startPiRpc({ sandbox, model: await install(sandbox, prefix) });
    let release: (() => void) | undefined;
    try {
      await pi.waitForLine(gatewayStatus(/gateway: listening on main/), { timeoutMs: 20_000, what: "the gateway status line" });
      // the model answers only once both events are queued: a fixed delay can run out first on a loaded machine
      release = model.hold();
      push(prefix, "first-while-idle");
      await model.waitForRequest("first-while-idle", 20_000);
      // pi is now in a turn, waiting for the held model
      push(prefix, "second-while-busy");
      push(prefix, "third-while-busy");
      release();
      const next = await model.waitForRequest("second-while-busy", 20_000);
      expect(requestText(next)).toContain("third-while-busy");
      await pi.waitForLine((line) => line.type === "agent_end", {
        timeoutMs: 20_000,
        from: pi.lines.indexOf(pi.lines.find((l) => l.type === "agent_end")!) + 1,
        what: "the second turn to end",
      });
      expect(pi.extensionErrors()).toEqual([]);
      expect(redisCli("LLEN", `${prefix}:events:main`).stdout.trim()).toBe("0");
    } finally {
      release?.();
      expect((await pi.stop()).code).toBe(0);
      sandbox.cleanup();
    }
  });

  it("loses nothing when pi cannot take the message (no model yet): the event stays queued and reaches the model once pi has one", async () => {
    const sandbox = createPiSandbox();
    const prefix = randomPrefix();
    const modelName = await install(sandbox, prefix);
    const indexFile = join(sandbox.agentDir, "extensions/gateway/index.ts");
    writeFileSync(indexFile, readFileSync(indexFile, "utf8").replace("pollIntervalMs:", "acceptTimeoutMs: 1500,\n  pollIntervalMs:"));
    // a freshly installed pi with no model configured: every prompt fails with "No model selected"
    const modelsFile = join(sandbox.agentDir, "models.json");
    const models = readFileSync(modelsFile, "utf8");
    rmSync(modelsFile);
    let pi = await startPiRpc({ sandbox });
    try {
      await pi.waitForLine(gatewayStatus(/gateway: listening on main/), { timeoutMs: 20_000, what: "the gateway status line" });
      push(prefix, "needs-a-model");
      await pi.waitForLine((line) => line.type === "extension_error" && /model/i.test(JSON.stringify(line)), { timeoutMs: 20_000, what: "pi's own error" });
      await pi.waitForLine((line) => line.type === "extension_ui_request" && line.method === "notify" && /did not start a turn/.test(String(line.message)), {
        timeoutMs: 20_000,
        what: "the gateway's notice",
      });
      expect(redisCli("LLEN", `${prefix}:processing:main`).stdout.trim()).toBe("1");
      expect(redisCli("EXISTS", `${prefix}:seen:main:needs-a-model`).stdout.trim()).toBe("0");
    } finally {
      expect((await pi.stop()).code).toBe(0);
    }
    writeFileSync(modelsFile, models);
    pi = await startPiRpc({ sandbox, model: modelName });
    try {
      const request = await model.waitForRequest("needs-a-model", 30_000);
      expect(requestText(request)).toContain("build.finished from ci · id needs-a-model");
    } finally {
      expect((await pi.stop()).code).toBe(0);
      sandbox.cleanup();
    }
  });

  it("still starts, and says why, when the extension's bundle is missing", async () => {
    const sandbox = createPiSandbox();
    const prefix = randomPrefix();
    const modelName = await install(sandbox, prefix);
    rmSync(join(sandbox.agentDir, "extensions/gateway/gateway-extension.mjs"));
    const pi = await startPiRpc({ sandbox, model: modelName });
    try {
      const warning = await pi.waitForLine(
        (line) => line.type === "extension_ui_request" && line.method === "notify" && /cannot load \.\/gateway-extension\.mjs/.test(String(line.message)),
        {
          timeoutMs: 20_000,
          what: "the missing bundle's warning",
        },
      );
      expect(warning.notifyType).toBe("warning");
      expect((await pi.request({ type: "get_state" })).success).toBe(true);
    } finally {
      expect((await pi.stop()).code).toBe(0);
      sandbox.cleanup();
    }
  });
});
