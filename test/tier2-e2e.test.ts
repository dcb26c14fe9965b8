// Tier 2 end to end: installed by the CLI (launchd agents through a recording launchctl stand-in),
// the real pi as the central session, heartbeats pushed by the installed heartbeat job exactly as
// launchd would run it, HEARTBEAT.md reaching the model, and the watchdog alarm when they stop.
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import plist from "plist";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createSandbox, REPO_ROOT, runCli } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type FakeModel, requestText, startFakeModel, writeFakeAgentDir } from "./helpers/fake-model.ts";
import { createPiSandbox, type RpcLine, startPiRpc } from "./helpers/pi-rpc.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");
let model: FakeModel;
beforeAll(async () => {
  model = await startFakeModel();
});
afterAll(() => model.close());

/** Runs a job as launchd does, appending its output to the job's log files (launchd does not create their folder). */
function runLaunchdJob(plistPath: string): { status: number | null; stderr: string } {
  const job = plist.parse(readFileSync(plistPath, "utf8")) as {
    ProgramArguments: string[];
    EnvironmentVariables: Record<string, string>;
    WorkingDirectory: string;
    StandardOutPath: string;
    StandardErrorPath: string;
  };
  const [program, ...args] = job.ProgramArguments;
  const result = spawnSync(program!, args, { env: job.EnvironmentVariables, cwd: job.WorkingDirectory, encoding: "utf8" });
  appendFileSync(job.StandardOutPath, result.stdout);
  appendFileSync(job.StandardErrorPath, result.stderr);
  return { status: result.status, stderr: result.stderr };
}

describe("tier 2 end to end", () => {
  it("keeps a central session fed with heartbeats, and the watchdog speaks up when they stop", async () => {
    const cli = createSandbox();
    const launchctlLog = join(cli.bin, "launchctl.log");
    // as launchd answers for a job it runs: `print` shows its state
    cli.standIn("launchctl", `#!/bin/sh\necho "launchctl $*" >> ${JSON.stringify(launchctlLog)}\n[ "$1" = print ] && echo "	state = running"\nexit 0\n`);
    const pi = createPiSandbox();
    const prefix = randomPrefix();
    const env = {
      ...cli.env,
      PATH: `${cli.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`,
      PI_CODING_AGENT_DIR: pi.agentDir,
      // the launchctl stand-in stands for macOS's launchd
      GATEWAY_SETUP_TEST_SERVICE_MANAGER: "launchd",
    };
    const homeBefore = snapshotTree(cli.home);
    const label = `dev.gateway-setup.e2e-${prefix}`;

    const result = await runCli(
      [
        "--tier",
        "2",
        "--yes",
        "--json",
        "--redis-url",
        redisUrl,
        "--prefix",
        prefix,
        "--service",
        "launchd",
        "--heartbeat",
        "launchd",
        "--heartbeat-every",
        "2s",
        "--service-label",
        label,
      ],
      { env },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.verification.map((c: { id: string; status: string }) => `${c.id}:${c.status}`)).toEqual([
      "redis-ping:ok",
      "extension-delivery:ok",
      "live-session:skip",
    ]);
    expect(report.verification[2].message).toMatch(/launchd is starting the central session/);
    const agents = join(cli.home, "Library/LaunchAgents");
    const uid = process.getuid!();
    expect(readFileSync(launchctlLog, "utf8").trim().split("\n")).toEqual(
      [label, `${label}.heartbeat`, `${label}.tripwire`].flatMap((job) => [
        `launchctl bootout gui/${uid}/${job}`,
        `launchctl enable gui/${uid}/${job}`,
        `launchctl bootstrap gui/${uid} ${join(agents, `${job}.plist`)}`,
      ]),
    );
    const checklist = readFileSync(join(pi.agentDir, "HEARTBEAT.md"), "utf8");
    expect(checklist).toContain("HEARTBEAT_OK");

    // the central session: what the service would start, with GATEWAY_ROLE=central
    const central = await startPiRpc({ sandbox: pi, model: writeFakeAgentDir(pi.agentDir, model), env: { GATEWAY_ROLE: "central" } });
    try {
      await central.waitForLine(
        (line: RpcLine) => line.type === "extension_ui_request" && line.method === "setStatus" && /listening on gateway/.test(String(line.statusText)),
        { timeoutMs: 20_000, what: "the central gateway to listen" },
      );
      model.setReply("HEARTBEAT_OK");
      expect(runLaunchdJob(join(agents, `${label}.heartbeat.plist`))).toMatchObject({ status: 0 });
      const request = await model.waitForRequest("heartbeat from launchd", 20_000);
      expect(requestText(request)).toContain("# Heartbeat checklist");
      expect(requestText(request)).toContain("reply with exactly HEARTBEAT_OK");
      await central.waitForLine((line) => line.type === "agent_end", { timeoutMs: 20_000, what: "the heartbeat turn" });
      const lastFile = join(pi.agentDir, "gateway/last-heartbeat.json");
      await expect.poll(() => existsSync(lastFile) && JSON.parse(readFileSync(lastFile, "utf8")).acknowledgedAt, { timeout: 5_000 }).toBeTruthy();

      // a script written for tier 1 (LPUSH + PUBLISH to `main`) still reaches pi, now the central session
      model.setReply("Noted.");
      const beforeTier1Event = central.mark();
      const port = new URL(redisUrl).port;
      const old = JSON.stringify({ id: "tier1-script", type: "backup.done", source: "cron", payload: {}, ts: Date.now() });
      expect(spawnSync("redis-cli", ["-p", port, "LPUSH", `${prefix}:events:main`, old]).status).toBe(0);
      expect(spawnSync("redis-cli", ["-p", port, "PUBLISH", `${prefix}:notify:main`, "x"]).status).toBe(0);
      expect(requestText(await model.waitForRequest("tier1-script", 20_000))).toContain("backup.done from cron");
      await central.waitForLine((line) => line.type === "agent_end", { from: beforeTier1Event, timeoutMs: 20_000, what: "the turn for the tier-1 event" });

      // heartbeats stop: after twice the interval the watchdog in the central session raises its alarm
      model.setReply("I will tell the user.");
      const alarm = await model.waitForRequest("[gateway watchdog]", 20_000);
      expect(requestText(alarm)).toMatch(/No heartbeat has arrived for \d+ s/);
      expect(central.uiRequests("notify").some((n) => n.notifyType === "error" && /No heartbeat/.test(String(n.message)))).toBe(true);

      // watchdog layer 2, independent of pi: the tripwire job as launchd runs it
      const uptime = () => Number(readFileSync("/proc/uptime", "utf8").split(".")[0]);
      const tripwire = () => runLaunchdJob(join(agents, `${label}.tripwire.plist`)).stderr;
      // inside the boot grace only if it still is once the job has run: a fresh CI machine can pass 600 s in between
      const inGrace = uptime() < 600 ? tripwire() : undefined;
      if (inGrace !== undefined && uptime() < 600) {
        expect(inGrace).toBe(""); // still inside the boot grace
      } else if (!inGrace?.match(/pi gateway: no heartbeat for \d+ s/)) {
        await expect.poll(tripwire, { timeout: 10_000, interval: 500 }).toMatch(/pi gateway: no heartbeat for \d+ s/);
      }

      const doctor = JSON.parse((await runCli(["doctor", "--json", "--only", "service,heartbeat,tripwire"], { env })).stdout);
      expect(doctor.checks.map((c: { id: string; status: string }) => `${c.id}:${c.status}`)).toEqual(["service:ok", "heartbeat:fail", "tripwire:ok"]);
      expect(central.extensionErrors()).toEqual([]);
    } finally {
      expect((await central.stop()).code).toBe(0);
    }

    // the jobs' logs, as launchd leaves them, are the install's too: uninstall takes them along
    expect(readdirSync(join(cli.home, "Library/Logs/pi-gateway"))).toContain(`${label}.tripwire.err.log`);
    const uninstall = await runCli(["uninstall", "--yes"], { env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const calls = readFileSync(launchctlLog, "utf8").trim().split("\n").slice(-3);
    expect(calls.sort()).toEqual([label, `${label}.heartbeat`, `${label}.tripwire`].map((job) => `launchctl bootout gui/${uid}/${job}`).sort());
    expect(snapshotTree(cli.home)).toEqual(homeBefore);
    expect(existsSync(join(pi.agentDir, "extensions/gateway"))).toBe(false);
    expect(existsSync(join(pi.agentDir, "gateway"))).toBe(false);
    pi.cleanup();
  });
});
