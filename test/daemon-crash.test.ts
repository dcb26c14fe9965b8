// The daemon as its own process, killed mid-turn: after the restart every input is answered, once.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, expect, inject, it } from "vitest";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { REPO_ROOT } from "./helpers/cli.ts";
import { daemonHome, telegramInput } from "./helpers/daemon.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { newestUserTexts, startFakeModel } from "./helpers/fake-model.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
const children = new Set<ChildProcess>();
let stderr = "";
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  redis.disconnect();
});

function startChild(configPath: string, dir: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [join(REPO_ROOT, "node_modules/jiti/lib/jiti-cli.mjs"), join(REPO_ROOT, "test/helpers/daemon-child.ts"), configPath, dir],
    {
      env: { ...process.env, PI_OFFLINE: "1", PI_TELEMETRY: "0" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
}

interface Delivered {
  text: string;
  pid: number;
}

it("SIGKILLed mid-turn and restarted, the daemon answers every input exactly once", async () => {
  const model = await startFakeModel({ reply: (request) => `re ${newestUserTexts(request)[0]?.match(/TOKEN-[\w-]+/)?.[0]}` });
  const home = daemonHome(model, { prefix: randomPrefix(), redisUrl });
  try {
    const dir = home.root;
    const configPath = join(dir, "daemon.json");
    writeFileSync(configPath, JSON.stringify(home.config));
    const human = telegramInput(51, "TOKEN-k-human");
    writeFileSync(join(dir, "inputs.jsonl"), `${JSON.stringify(human)}\n`);
    const event = createEvent({ id: "ev-kill", type: "job.done", source: "ci", payload: { token: "TOKEN-k-event" } });
    await pushToSession(redis, { prefix: home.config.prefix, sessionId: "gateway", event });

    const release = model.hold();
    const first = startChild(configPath, dir);
    await model.waitForRequest("TOKEN-k-human", 30_000);
    first.kill("SIGKILL");
    await exited(first);
    release();

    const second = startChild(configPath, dir);
    const deliveries = () =>
      readFileSync(join(dir, "deliveries.jsonl"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Delivered);
    await waitFor(
      () => existsSync(join(dir, "deliveries.jsonl")) && deliveries().length >= 2,
      () =>
        `both replies after the restart; log: ${existsSync(join(dir, "daemon.log")) ? readFileSync(join(dir, "daemon.log"), "utf8") : "(none)"}; ` +
        `stderr: ${stderr}`,
      30_000,
    );
    await waitFor(async () => (await redis.llen(sessionKeys(home.config.prefix, "gateway").processing)) === 0, "the event to leave processing");
    await waitFor(() => existsSync(join(dir, "acked.jsonl")), "the human input to be acknowledged");
    expect(deliveries()).toEqual([
      { origin: human.origin, text: "re TOKEN-k-human", pid: second.pid },
      { origin: { kind: "background" }, text: "re TOKEN-k-event", pid: second.pid },
    ]);
    expect(readFileSync(join(dir, "acked.jsonl"), "utf8")).toBe(`${JSON.stringify(human.id)}\n`);

    second.kill("SIGTERM");
    await exited(second);
    expect(second.exitCode).toBe(0);
    expect(deliveries()).toHaveLength(2);
  } finally {
    await model.close();
    home.cleanup();
  }
});
