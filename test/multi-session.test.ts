// Tier 3: a central session and satellites, each in its own process, against real Redis: routing
// reaches exactly the right queues, a killed satellite is pruned, a second central is refused.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { sessionsRegistryKey } from "../src/runtime/protocol/keys.ts";
import { pushEvent } from "../src/runtime/protocol/route.ts";
import { deadSessions } from "../src/runtime/protocol/sessions.ts";
import { REPO_ROOT } from "./helpers/cli.ts";
import { createExtensionDir, randomPrefix } from "./helpers/extension-dir.ts";
import { requestText, startFakeModel, writeFakeAgentDir } from "./helpers/fake-model.ts";
import { createPiSandbox, startPiRpc } from "./helpers/pi-rpc.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

interface Line {
  status?: string;
  pid?: number;
  notice?: string;
  type?: string;
  sent?: string[];
}

interface SessionProcess {
  child: ChildProcessWithoutNullStreams;
  lines: Line[];
  received(): string[];
  waitFor(predicate: (line: Line) => boolean, what: string, timeoutMs?: number): Promise<Line>;
}

const running: SessionProcess[] = [];
afterEach(() => {
  for (const session of running.splice(0)) session.child.kill("SIGKILL");
});

function startSession(extensionDir: string, role?: "central"): SessionProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, "test/fixtures/session.mjs"), join(REPO_ROOT, "dist/verify/host.js"), extensionDir], {
    // TMPDIR: its temp files (jiti's cache) go with the test run's (see test/global-setup.ts)
    env: { PATH: process.env.PATH, TMPDIR: tmpdir(), ...(role ? { GATEWAY_ROLE: role } : {}) },
    stdio: "pipe",
  });
  const lines: Line[] = [];
  let buffer = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(buffer.slice(0, newline)) as Line);
      buffer = buffer.slice(newline + 1);
    }
  });
  const session: SessionProcess = {
    child,
    lines,
    received: () => lines.flatMap((line) => line.sent ?? []),
    // a fresh node process loads the host and jiti-compiles the extension first: on a loaded 2-core
    // machine three of them starting together take longer than 10 s to listen
    async waitFor(predicate, what, timeoutMs = 30_000) {
      let hit: Line | undefined;
      await waitFor(
        () => (hit = lines.find(predicate)) !== undefined,
        () => `${what} (session ${child.pid}); saw ${JSON.stringify(lines)}; stderr: ${stderr}`,
        timeoutMs,
      );
      return hit!;
    },
  };
  running.push(session);
  return session;
}

const listening = (id: string) => (line: Line) => line.status === `gateway: listening on ${id}`;

describe("tier 3: central and satellites", () => {
  it("routes heartbeats to central only and a completion to its origin and central exactly once; prunes the dead; refuses a second central", async () => {
    const prefix = randomPrefix();
    const dir = createExtensionDir({ prefix, redisUrl, mode: "multi" });
    const central = startSession(dir, "central");
    const a = startSession(dir);
    const b = startSession(dir);
    await central.waitFor(listening("gateway"), "central to listen");
    await a.waitFor(listening(`pid-${a.child.pid}`), "satellite a");
    await b.waitFor(listening(`pid-${b.child.pid}`), "satellite b");
    expect((await redis.smembers(sessionsRegistryKey(prefix))).sort()).toEqual(["gateway", `pid-${a.child.pid}`, `pid-${b.child.pid}`].sort());

    const heartbeat = await pushEvent(redis, { prefix, event: createEvent({ id: "hb-1", type: "cron.heartbeat", source: "cron" }) });
    expect(heartbeat.targets.map((t) => t.sessionId)).toEqual(["gateway"]);
    const done = await pushEvent(redis, { prefix, event: createEvent({ id: "done-1", type: "job.done", source: "ci", originSession: `pid-${a.child.pid}` }) });
    expect(done.targets.map((t) => [t.sessionId, t.listeners])).toEqual([
      [`pid-${a.child.pid}`, 1],
      ["gateway", 1],
    ]);
    await central.waitFor((l) => l.sent?.includes("done-1") === true, "central to get the completion");
    await a.waitFor((l) => l.sent?.includes("done-1") === true, "the origin to get the completion");
    // one more event for each satellite, pushed after those: once each has it, each queue has been
    // worked through past the events above, and anything routed wrongly or twice would have shown
    for (const [id, origin] of [
      ["later-a", a],
      ["later-b", b],
    ] as const) {
      const later = await pushEvent(redis, { prefix, event: createEvent({ id, type: "job.done", source: "ci", originSession: `pid-${origin.child.pid}` }) });
      expect(later.targets.map((t) => t.sessionId)).toEqual([`pid-${origin.child.pid}`, "gateway"]);
      await origin.waitFor((l) => l.sent?.includes(id) === true, `its origin to get ${id}`);
      await central.waitFor((l) => l.sent?.includes(id) === true, `central to get ${id}`);
    }
    expect(central.received().sort()).toEqual(["done-1", "hb-1", "later-a", "later-b"]);
    expect(a.received()).toEqual(["done-1", "later-a"]);
    expect(b.received()).toEqual(["later-b"]);

    // a satellite dies without shutting down: the next session start prunes it
    b.child.kill("SIGKILL");
    await new Promise((resolve) => b.child.once("exit", resolve));
    expect(await deadSessions(redis, prefix)).toEqual([`pid-${b.child.pid}`]);
    // its liveness key has not expired yet, but its process is gone: no longer a routing target
    const toDead = await pushEvent(redis, {
      prefix,
      event: createEvent({ id: "to-dead-1", type: "job.done", source: "ci", originSession: `pid-${b.child.pid}` }),
    });
    expect(toDead.targets.map((t) => t.sessionId)).toEqual(["gateway"]);
    await central.waitFor((l) => l.sent?.includes("to-dead-1") === true, "central to get the event of the dead origin");
    const c = startSession(dir);
    await c.waitFor(listening(`pid-${c.child.pid}`), "satellite c");
    expect(await redis.sismember(sessionsRegistryKey(prefix), `pid-${b.child.pid}`)).toBe(0);

    // only one central at a time
    const second = startSession(dir, "central");
    const refused = await second.waitFor((l) => l.type === "error", "the second central to be refused");
    expect(refused.notice).toMatch(new RegExp(`pid ${central.child.pid} on .* already receives the events for "gateway"`));
    // an event after the refusal: one listener (not two), and central, not the refused one, gets it
    const after = await pushEvent(redis, { prefix, event: createEvent({ id: "after-1", type: "job.done", source: "ci" }) });
    expect(after.targets.map((t) => [t.sessionId, t.listeners])).toEqual([["gateway", 1]]);
    await central.waitFor((l) => l.sent?.includes("after-1") === true, "central, not the refused one");
    expect(second.lines.some(listening("gateway"))).toBe(false);
    expect(second.received()).toEqual([]);

    // the real pi joins as a satellite and gets what names it as origin
    const sandbox = createPiSandbox();
    mkdirSync(join(sandbox.agentDir, "extensions"), { recursive: true });
    symlinkSync(dir, join(sandbox.agentDir, "extensions/gateway"));
    const model = await startFakeModel({ reply: "noted" });
    const pi = await startPiRpc({ sandbox, model: writeFakeAgentDir(sandbox.agentDir, model) });
    try {
      const piSession = `pid-${pi.pid}`;
      await pi.waitForLine((l) => l.method === "setStatus" && l.statusText === `gateway: listening on ${piSession}`, {
        timeoutMs: 20_000,
        what: "pi to join as a satellite",
      });
      const routed = await pushEvent(redis, { prefix, event: createEvent({ id: "pi-origin-1", type: "job.done", source: "ci", originSession: piSession }) });
      expect(routed.targets.map((t) => t.sessionId)).toEqual([piSession, "gateway"]);
      expect(requestText(await model.waitForRequest("pi-origin-1", 20_000))).toContain("job.done from ci · id pi-origin-1");
      await central.waitFor((l) => l.sent?.includes("pi-origin-1") === true, "central to get it too");
    } finally {
      expect((await pi.stop()).code).toBe(0);
      await model.close();
      sandbox.cleanup();
    }

    // a clean shutdown unregisters
    a.child.kill("SIGTERM");
    await new Promise((resolve) => a.child.once("exit", resolve));
    expect(await redis.sismember(sessionsRegistryKey(prefix), `pid-${a.child.pid}`)).toBe(0);
  }, 120_000); // five session processes and a real pi, one after another
});
