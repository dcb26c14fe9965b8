// The installed daemon's config file and the two tier-4 commands around it: what daemon.json may
// say (and the clear errors when it is wrong), `gateway-setup daemon` refusing to start without
// what it needs, `gateway-setup pair` without an installed bot, and the daemon without Telegram.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { DaemonConfigError } from "../src/runtime/daemon/config.ts";
import { loadInstalledDaemon, parseTelegramSection } from "../src/runtime/daemon/daemon-file.ts";
import { type RunningDaemon, startDaemonProcess } from "../src/runtime/daemon/run.ts";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { runCli } from "./helpers/cli.ts";
import { daemonHome } from "./helpers/daemon.ts";
import { type DaemonInstall, installDaemon } from "./helpers/daemon-cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type FakeModel, newestUserTexts, startFakeModel } from "./helpers/fake-model.ts";
import { type FakeTelegram, startFakeTelegram } from "./helpers/fake-telegram.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
let model: FakeModel;
let fake: FakeTelegram;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  model = await startFakeModel({
    reply: (request) =>
      `re ${
        newestUserTexts(request)
          .join("\n")
          .match(/TOKEN-[\w-]+/)?.[0]
      }`,
  });
  fake = await startFakeTelegram();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await model.close();
  await fake.close();
});

function install(telegram: Record<string, unknown> = { allow: [111], pairing: false }): DaemonInstall {
  const installed = installDaemon(model, fake, { prefix: randomPrefix(), redisUrl, telegram });
  cleanups.push(installed.cleanup);
  return installed;
}

describe("the telegram section of daemon.json", () => {
  it("takes user ids, pairing, notify chats and another API root", () => {
    expect(parseTelegramSection({ allow: [123, 456], pairing: false, notify: [-100200], apiRoot: "http://127.0.0.1:8081/" })).toEqual({
      allow: [123, 456],
      pairing: false,
      notify: [-100200],
      apiRoot: "http://127.0.0.1:8081/",
    });
    expect(parseTelegramSection({ pairing: true })).toEqual({ allow: [], pairing: true });
  });

  it.each([
    [{ allow: [], pairing: false }, "telegram: allow is empty and pairing is off: a bot open to everyone is never run"],
    [{ allow: [] }, "a bot open to everyone is never run"],
    [{ allow: ["123"], pairing: true }, "telegram: allow must be a list of Telegram user ids (positive integers)"],
    [{ allow: [-5] }, "allow must be a list of Telegram user ids"],
    [{ allow: [1.5] }, "allow must be a list of Telegram user ids"],
    [{ allow: [1], pairing: "yes" }, "telegram: pairing must be true or false"],
    [{ allow: [1], notify: [0] }, "telegram: notify must be a list of Telegram chat ids"],
    [{ allow: [1], apiRoot: "api.telegram.org" }, "telegram: apiRoot must be an http(s) URL"],
    [{ allow: [1], initialBackoffMs: -1 }, "telegram: initialBackoffMs must be a positive number"],
    ["on", "telegram: expected a JSON object"],
  ])("refuses %j", (raw, message) => {
    expect(() => parseTelegramSection(raw)).toThrow(DaemonConfigError);
    expect(() => parseTelegramSection(raw)).toThrow(message);
  });

  it("reads the whole file: the daemon's fields, and the telegram section when there is one", () => {
    const installed = install({ allow: [111, 222], pairing: true, notify: [111] });
    const { config, telegram } = loadInstalledDaemon(installed.configPath);
    expect(config).toMatchObject({ prefix: installed.prefix, redisUrl, secretsFile: installed.secretsFile, agentDir: installed.agentDir });
    expect(telegram).toMatchObject({ allow: [111, 222], pairing: true, notify: [111], apiRoot: `${fake.apiRoot}/` });
    expect(JSON.stringify(telegram)).not.toContain(fake.token);

    const bad = JSON.parse(JSON.stringify({ ...config, telegram: { allow: [], pairing: false } }));
    writeFileSync(installed.configPath, JSON.stringify(bad));
    expect(() => loadInstalledDaemon(installed.configPath)).toThrow(`${installed.configPath}: telegram: allow is empty`);
  });
});

describe("gateway-setup daemon refuses to start without what it needs", () => {
  it("a config file that is not there", async () => {
    const installed = install();
    const missing = join(installed.stateDir, "nope.json");
    const result = await runCli(["daemon", "--config", missing], { env: installed.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`gateway-setup daemon: cannot read the daemon's config ${missing}`);
  });

  it("the installed config (the default path) with a telegram section but no token in the secrets file", async () => {
    const installed = install();
    writeFileSync(installed.secretsFile, "GATEWAY_REDIS_PASSWORD=''\n", { mode: 0o600 });
    const result = await runCli(["daemon"], { env: installed.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`GATEWAY_TELEGRAM_TOKEN is missing from ${installed.secretsFile}`);
    expect(result.stderr).toContain("Re-run `gateway-setup`");
  });

  it("a bot open to everyone", async () => {
    const installed = install({ allow: [], pairing: false });
    const result = await runCli(["daemon", "--config", installed.configPath], { env: installed.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("a bot open to everyone is never run");
    expect(result.stderr).not.toContain(fake.token);
  });
});

describe("gateway-setup pair without an installed bot", () => {
  it("says that no tier-4 gateway is installed, in words and as JSON", async () => {
    const installed = install();
    const env = { ...installed.env, PI_CODING_AGENT_DIR: join(installed.sandbox.home, "elsewhere") };
    const human = await runCli(["pair", "ABCDEFGH"], { env });
    expect(human.code).toBe(1);
    expect(human.stderr).toContain("no usable tier-4 gateway here");
    expect(human.stderr).toContain("fix: install it with `gateway-setup --tier 4`");
    const json = await runCli(["pair", "ABCDEFGH", "--json"], { env });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      error: { message: expect.stringContaining("no usable tier-4 gateway here"), fix: "install it with `gateway-setup --tier 4`" },
    });
  });

  it("says that the installed gateway has no bot", async () => {
    const installed = install();
    const { config } = loadInstalledDaemon(installed.configPath);
    writeFileSync(installed.configPath, JSON.stringify(config));
    const result = await runCli(["pair", "ABCDEFGH", "--json"], { env: installed.env });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).error.message).toContain("has no Telegram bot");
  });
});

it("without a telegram section the daemon serves Redis events and logs its replies", async () => {
  const home = daemonHome(model, { prefix: randomPrefix(), redisUrl });
  cleanups.push(home.cleanup);
  const configPath = join(home.root, "daemon.json");
  writeFileSync(configPath, JSON.stringify(home.config));
  const lines: string[] = [];
  const running: RunningDaemon = await startDaemonProcess({ configPath, env: {}, log: (line) => lines.push(line) });
  cleanups.push(() => running.stop());
  expect(running.bridge).toBeUndefined();
  const redis = new Redis(redisUrl);
  cleanups.push(() => redis.disconnect());
  const event = createEvent({ type: "job.done", source: "ci", payload: { token: "TOKEN-redis-only" } });
  await pushToSession(redis, { prefix: home.config.prefix, sessionId: "gateway", event });
  await waitFor(
    () => lines.some((line) => line === "reply to background events: re TOKEN-redis-only"),
    () => `the reply in the log: ${lines.join("\n")}`,
  );
  expect(lines[0]).toContain("no telegram section");
});
