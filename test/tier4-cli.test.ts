// Tier 4 through the CLI on Linux: the token checked with getMe before anything is written, the
// daemon's unit through a recording systemctl, the token only in the secrets file, doctor's
// tier-4 checks, the upgrade from tier 2 and back, and uninstall restoring the home byte for byte.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createSandbox, REPO_ROOT, runCli, runningText, type Sandbox } from "./helpers/cli.ts";
import { type DaemonInstall, killAllDaemons, startDaemonCli } from "./helpers/daemon-cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { startFakeModel, writeFakeAgentDir } from "./helpers/fake-model.ts";
import { type FakeTelegram, startFakeTelegram } from "./helpers/fake-telegram.ts";
import { snapshotTree } from "./helpers/tree.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
let telegram: FakeTelegram;

beforeAll(async () => {
  telegram = await startFakeTelegram();
});
afterAll(async () => {
  killAllDaemons();
  await telegram?.close();
});

function tier4Sandbox(): { sandbox: Sandbox; env: Record<string, string>; log: string } {
  const sandbox = createSandbox();
  const log = join(sandbox.bin, "calls.log");
  sandbox.standIn("systemctl", `#!/bin/sh\necho "systemctl $*" >> ${JSON.stringify(log)}\nexit 0\n`);
  sandbox.standIn("loginctl", "#!/bin/sh\necho Linger=yes\n");
  const env = {
    ...sandbox.env,
    PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`,
    PI_CODING_AGENT_DIR: join(sandbox.home, ".pi/agent"),
    TELEGRAM_API_ROOT: telegram.apiRoot,
    // the recording systemctl stands in for a systemd user manager
    GATEWAY_SETUP_TEST_SERVICE_MANAGER: "systemd",
  };
  return { sandbox, env, log };
}

const calls = (log: string) => {
  try {
    return readFileSync(log, "utf8").trim().split("\n");
  } catch {
    return [];
  }
};

/** every file under the home as text, but the secrets file */
const filesBut = (snapshot: Record<string, string>, except: string) => Object.entries(snapshot).filter(([path]) => !path.endsWith(except));

const tier4Args = (prefix: string, ...extra: string[]) => [
  "--tier",
  "4",
  "--yes",
  "--json",
  "--redis-url",
  redisUrl,
  "--prefix",
  prefix,
  "--service",
  "systemd",
  "--heartbeat",
  "systemd",
  "--telegram-allow",
  "111,222",
  ...extra,
];

describe("tier 4 setup", () => {
  it("refuses without a token (never a flag), and a bot open to everyone, before anything is written", async () => {
    const { sandbox, env } = tier4Sandbox();
    const noToken = await runCli(tier4Args(randomPrefix()), { env });
    expect(noToken.code).toBe(2);
    expect(JSON.parse(noToken.stdout).error.message).toMatch(/needs the Telegram bot token: set TELEGRAM_BOT_TOKEN/);
    const open = await runCli(["--tier", "4", "--yes", "--json", "--redis-url", redisUrl, "--service", "systemd", "--telegram-pairing", "off"], {
      env: { ...env, TELEGRAM_BOT_TOKEN: telegram.token },
    });
    expect(open.code).toBe(1);
    expect(JSON.parse(open.stdout).error.message).toMatch(/a bot open to everyone is never installed/);
    const revoked = await runCli(tier4Args(randomPrefix()), { env: { ...env, TELEGRAM_BOT_TOKEN: "999:AAWrongTokenWrongTokenWrong" } });
    expect(revoked.code).toBe(1);
    expect(JSON.parse(revoked.stdout).error.message).toMatch(/Telegram refused the bot token.*401/);
    expect(JSON.stringify(revoked.stdout)).not.toContain("AAWrongToken");
    expect(snapshotTree(sandbox.home)).toEqual({});
    const tierFlags = await runCli(["--tier", "3", "--yes", "--redis-url", redisUrl, "--telegram-allow", "111"], { env });
    expect(tierFlags.code).toBe(2);
    expect(runningText(tierFlags.stdout + tierFlags.stderr)).toMatch(/--telegram-allow applies from tier 4 on/);
  });

  it("installs the daemon in place of pi in tmux, keeps the token in the secrets file only, and uninstall restores the home", async () => {
    const { sandbox, env, log } = tier4Sandbox();
    const before = snapshotTree(sandbox.home);
    const prefix = randomPrefix();
    const result = await runCli(tier4Args(prefix), { env: { ...env, TELEGRAM_BOT_TOKEN: telegram.token } });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.plan.settings).toMatchObject({
      tier: 4,
      mode: "multi",
      telegram: { allow: [111, 222], pairing: false, bot: { username: expect.any(String) } },
    });
    const unit = "dev.gateway-setup.pi-central";
    expect(calls(log)).toEqual(expect.arrayContaining([`systemctl --user enable ${unit}.service`, `systemctl --user restart ${unit}.service`]));
    const unitFile = readFileSync(join(sandbox.home, `.config/systemd/user/${unit}.service`), "utf8");
    expect(unitFile).toMatch(/ExecStart=\S+node\S* \S+\/bin\/gateway-setup\.js daemon --config \S+\/\.pi\/agent\/gateway\/daemon\.json/);
    expect(unitFile).not.toContain("tmux");
    // no tier-2 wrapper: the daemon is the central session
    expect(report.plan.steps.some((step: { path?: string }) => step.path?.endsWith("run-central.sh"))).toBe(false);

    const stateDir = join(sandbox.home, ".pi/agent/gateway");
    const config = JSON.parse(readFileSync(join(stateDir, "daemon.json"), "utf8"));
    expect(config).toMatchObject({ prefix, telegram: { allow: [111, 222], pairing: false, apiRoot: telegram.apiRoot } });
    expect(statSync(join(stateDir, "daemon.json")).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, "secrets.env")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(stateDir, "secrets.env"), "utf8")).toContain(`GATEWAY_TELEGRAM_TOKEN=${telegram.token}`);
    const installed = snapshotTree(sandbox.home);
    for (const [path, contents] of filesBut(installed, "/secrets.env")) expect(contents, path).not.toContain(telegram.token);
    expect(result.stdout + result.stderr).not.toContain(telegram.token);

    const doctor = await runCli(["doctor", "--json", "--only", "telegram,allowlist,model"], { env });
    const checks = Object.fromEntries(JSON.parse(doctor.stdout).checks.map((c: { id: string }) => [c.id, c]));
    expect(checks.allowlist).toMatchObject({ status: "ok" });
    // the owner never wrote to the bot
    expect(checks.telegram).toMatchObject({ status: "warn", message: expect.stringMatching(/cannot write to you \(user 111\) until you send it \/start/) });
    expect(checks.model).toMatchObject({ status: "fail" });
    telegram.knowChat(111);
    const again = JSON.parse((await runCli(["doctor", "--json", "--only", "telegram"], { env })).stdout);
    expect(again.checks[0]).toMatchObject({ status: "ok", message: expect.stringMatching(/answers; the daemon has not polled yet/) });

    const status = JSON.parse((await runCli(["status", "--json"], { env })).stdout);
    expect(status).toMatchObject({ tier: 4, daemon: { running: false, bot: expect.stringMatching(/^@/), inbox: 0, outbox: 0 } });
    expect((await runCli(["status"], { env })).stdout).toMatch(/daemon +NOT running[\s\S]*telegram +@\S+: no poll yet/);

    const uninstall = await runCli(["uninstall", "--yes", "--json"], { env });
    expect(uninstall.code, uninstall.stdout + uninstall.stderr).toBe(0);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });

  it("upgrades a tier-2 install to tier 4 and back down, leaving nothing of either behind", async () => {
    const { sandbox, env } = tier4Sandbox();
    sandbox.standIn("tmux", "#!/bin/sh\nexit 0\n");
    const before = snapshotTree(sandbox.home);
    const prefix = randomPrefix();
    const tier2 = ["--tier", "2", "--yes", "--json", "--redis-url", redisUrl, "--prefix", prefix, "--service", "systemd", "--heartbeat", "systemd"];
    expect((await runCli(tier2, { env })).code).toBe(0);
    const up = await runCli(tier4Args(prefix), { env: { ...env, TELEGRAM_BOT_TOKEN: telegram.token } });
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const steps = JSON.parse(up.stdout).plan.steps as { kind: string; argv?: string[]; action?: string; path?: string }[];
    expect(steps.some((s) => s.argv?.includes("kill-session"))).toBe(true);
    expect(steps.some((s) => s.kind === "take-back" && s.path?.endsWith("run-central.sh"))).toBe(true);
    const down = await runCli(tier2, { env });
    expect(down.code, down.stdout + down.stderr).toBe(0);
    const secrets = join(sandbox.home, ".pi/agent/gateway/secrets.env");
    expect(existsSync(secrets) && readFileSync(secrets, "utf8").includes("TELEGRAM")).toBe(false);
    expect((await runCli(["uninstall", "--yes"], { env })).code).toBe(0);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("tier 4 after node moved", () => {
  it("doctor names the node that is gone, and --fix renders the daemon's job again with the node running it", async () => {
    const { sandbox, env, log } = tier4Sandbox();
    const before = snapshotTree(sandbox.home);
    // the node setup finds first on PATH, as a version manager puts it; it goes away later
    const nodeBin = join(sandbox.home, "nvm-node");
    mkdirSync(nodeBin);
    symlinkSync(process.execPath, join(nodeBin, "node"));
    const moved = { ...env, PATH: `${nodeBin}:${env.PATH}` };
    const setup = await runCli(tier4Args(randomPrefix()), { env: { ...moved, TELEGRAM_BOT_TOKEN: telegram.token } });
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);
    const unit = join(sandbox.home, ".config/systemd/user/dev.gateway-setup.pi-central.service");
    expect(readFileSync(unit, "utf8")).toContain(`ExecStart=${join(nodeBin, "node")} `);
    rmSync(join(nodeBin, "node"));

    const check = JSON.parse((await runCli(["doctor", "--json", "--only", "daemon"], { env })).stdout).checks[0];
    expect(check).toMatchObject({
      status: "fail",
      message: expect.stringContaining(`${join(nodeBin, "node")} is gone`),
      fix: expect.stringMatching(/^gateway-setup doctor --fix/),
    });
    const loaded = calls(log).length;
    const fixed = JSON.parse((await runCli(["doctor", "--json", "--fix", "--only", "daemon"], { env })).stdout);
    expect(fixed.repairs).toEqual([{ id: "daemon", result: expect.stringContaining(`with ${process.execPath} and `) }]);
    expect(readFileSync(unit, "utf8")).toContain(`ExecStart=${process.execPath} `);
    expect(calls(log).slice(loaded)).toEqual(["systemctl --user daemon-reload", "systemctl --user restart dev.gateway-setup.pi-central.service"]);
    // the manifest records the new job: nothing has drifted, and uninstall takes it all back
    expect(JSON.parse((await runCli(["doctor", "--json", "--only", "extension-files"], { env })).stdout).checks[0]).toMatchObject({ status: "ok" });
    expect((await runCli(["uninstall", "--yes"], { env })).code).toBe(0);
    rmSync(nodeBin, { recursive: true });
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("tier 4 installed and running", () => {
  it("doctor follows the running daemon: healthy, then 409 and 401 from Telegram, then the daemon gone", async () => {
    const bot = await startFakeTelegram("424242:AAAnotherFakeTokenForDoctorTests_xyz");
    const model = await startFakeModel({ reply: "pong" });
    try {
      const { sandbox, env } = tier4Sandbox();
      const agentDir = join(sandbox.home, ".pi/agent");
      const modelArg = writeFakeAgentDir(agentDir, model);
      const before = snapshotTree(sandbox.home);
      const daemonEnv = { ...env, TELEGRAM_API_ROOT: bot.apiRoot, PI_OFFLINE: "1", PI_TELEMETRY: "0" };
      const prefix = randomPrefix();
      const setup = await runCli(
        [
          "--tier",
          "4",
          "--yes",
          "--json",
          "--redis-url",
          redisUrl,
          "--prefix",
          prefix,
          "--service",
          "none",
          "--heartbeat",
          "none",
          "--telegram-allow",
          "111",
          "--model",
          modelArg,
        ],
        { env: { ...daemonEnv, TELEGRAM_BOT_TOKEN: bot.token } },
      );
      expect(setup.code, setup.stdout + setup.stderr).toBe(0);
      bot.knowChat(111);
      const doctor = async () => {
        const result = await runCli(["doctor", "--json", "--only", "daemon,model,telegram,allowlist"], { env: daemonEnv });
        return Object.fromEntries(JSON.parse(result.stdout).checks.map((c: { id: string; status: string; message: string }) => [c.id, c]));
      };
      expect((await doctor()).daemon).toMatchObject({ status: "fail", message: "the daemon has not run yet" });

      const stateDir = join(agentDir, "gateway");
      const install: DaemonInstall = {
        sandbox,
        env: daemonEnv,
        agentDir,
        stateDir,
        configPath: join(stateDir, "daemon.json"),
        secretsFile: join(stateDir, "secrets.env"),
        prefix,
        cleanup: () => {},
      };
      const daemon = await startDaemonCli(install);
      bot.injectMessage({ userId: 111, text: "ping" });
      await bot.waitForSent((sent) => sent.some((m) => m.chatId === 111 && m.text === "pong"));
      const healthy = await doctor();
      expect(healthy.daemon).toMatchObject({ status: "ok", message: expect.stringMatching(/the daemon runs \(pid \d+/) });
      expect(healthy.model).toMatchObject({ status: "ok" });
      expect(healthy.telegram).toMatchObject({ status: "ok", message: expect.stringMatching(/answers; last poll \d+ s ago/) });

      bot.failNext("getUpdates", { status: 409, description: "Conflict: terminated by other getUpdates request", times: Number.POSITIVE_INFINITY });
      // ends the long poll in flight, so the next one meets the conflict
      bot.injectMessage({ userId: 111, text: "are you there?" });
      await waitFor(async () => (await doctor()).telegram.message.includes("409"), "doctor to report the 409", 20_000);
      expect((await doctor()).telegram).toMatchObject({ status: "fail", fix: expect.stringMatching(/stop the other poller/) });

      bot.revokeToken();
      expect((await doctor()).telegram).toMatchObject({ status: "fail", message: expect.stringMatching(/refuses the bot token \(401\)/) });
      daemon.child.kill("SIGTERM");
      expect(await daemon.exited).toBe(0);
      expect((await doctor()).daemon).toMatchObject({ status: "fail", message: expect.stringMatching(/is not running/) });

      // no service manager runs it here: uninstall stops the daemon it finds running, then takes everything back
      const again = await startDaemonCli(install);
      const uninstall = await runCli(["uninstall", "--yes"], { env: daemonEnv });
      expect(uninstall.code, uninstall.stdout + uninstall.stderr).toBe(0);
      expect(await again.exited).toBe(0);
      expect(snapshotTree(sandbox.home)).toEqual(before);
    } finally {
      await bot.close();
      await model.close();
    }
  });
});
