import { describe, expect, it } from "vitest";
import { redactUrlPassword } from "../src/components/redis/url.ts";
import { tierFor } from "../src/core/answers.ts";
import { answersFromFlags, refuseFlagsAboveTier, UsageError } from "../src/wizard/flags.ts";
import { WizardCancelledError } from "../src/wizard/prompter.ts";
import { resolveAnswers } from "../src/wizard/questions.ts";
import { CANCEL, createScriptedPrompter } from "../src/wizard/scripted-prompter.ts";

describe("flags", () => {
  it("maps every flag onto its answer", () => {
    expect(
      answersFromFlags({
        tier: "1",
        goal: "notifications",
        sessions: "one",
        redisUrl: "rediss://user@redis.example:6380",
        prefix: "team",
        scope: "project",
        projectDir: "/tmp/p",
        installRedis: false,
      }),
    ).toEqual({
      tier: 1,
      goal: "notifications",
      sessions: "one",
      redisUrl: "rediss://user@redis.example:6380",
      prefix: "team",
      scope: "project",
      projectDir: "/tmp/p",
      installRedis: false,
    });
  });
  it.each([
    [{ tier: "5" }, /--tier must be 1, 2, 3 or 4/],
    [{ tier: "one" }, /--tier/],
    [{ goal: "everything" }, /--goal must be one of notifications, always-on, full-gateway/],
    [{ redisUrl: "http://x" }, /redis:\/\/ or rediss:\/\//],
    [{ redisUrl: "not a url" }, /invalid Redis URL/],
    [{ prefix: "a b" }, /--prefix/],
    [{ scope: "system" }, /--scope/],
  ])("rejects %j", (flags, message) => {
    expect(() => answersFromFlags(flags)).toThrow(UsageError);
    expect(() => answersFromFlags(flags)).toThrow(message);
  });
});

describe("wizard", () => {
  it("asks the three questions and the tier-1 details, in order", async () => {
    const prompter = createScriptedPrompter({
      goal: "notifications",
      sessions: "one",
      redisUrl: "redis://127.0.0.1:6390",
      scope: "project",
    });
    const answers = await resolveAnswers({}, prompter, "/work/proj");
    expect(prompter.asked).toEqual(["goal", "sessions", "redisUrl", "scope"]);
    expect(answers).toMatchObject({ tier: 1, redisUrl: "redis://127.0.0.1:6390", scope: "project", projectDir: "/work/proj", prefix: "agent" });
  });

  it("asks nothing that a flag already answered", async () => {
    const prompter = createScriptedPrompter({});
    const answers = await resolveAnswers(answersFromFlags({ tier: "1", redisUrl: "redis://h:1", scope: "global" }), prompter, "/x");
    expect(prompter.asked).toEqual([]);
    expect(answers).toMatchObject({ tier: 1, redisUrl: "redis://h:1", scope: "global" });
  });

  it("gives the same answers from flags as from prompts", async () => {
    const fromPrompts = await resolveAnswers(
      {},
      createScriptedPrompter({ goal: "notifications", sessions: "one", redisUrl: "redis://r:7", scope: "global" }),
      "/x",
    );
    const fromFlags = await resolveAnswers(
      answersFromFlags({ goal: "notifications", sessions: "one", redisUrl: "redis://r:7", scope: "global" }),
      undefined,
      "/x",
    );
    expect(fromFlags).toEqual(fromPrompts);
  });

  it("uses defaults without a prompter", async () => {
    expect(await resolveAnswers({}, undefined, "/x")).toEqual({
      tier: 1,
      goal: "notifications",
      sessions: "one",
      redisUrl: "redis://127.0.0.1:6379",
      prefix: "agent",
      scope: "global",
      projectDir: "/x",
      installRedis: false,
    });
  });

  it("the full gateway asks who may talk to the bot: ids, or pairing codes (on by default only without ids)", async () => {
    const prompter = createScriptedPrompter({
      goal: "full-gateway",
      heartbeat: "cron",
      heartbeatEvery: "30m",
      redisUrl: "redis://h:1",
      scope: "global",
      telegramAllow: "123, 456 123",
      telegramPairing: false,
    });
    const answers = await resolveAnswers({}, prompter, "/x");
    expect(answers).toMatchObject({ tier: 4, goal: "full-gateway", telegramAllow: [123, 456], telegramPairing: false, heartbeat: "cron" });
    // no "how many sessions": the full gateway has satellites whatever the answer
    expect(prompter.asked).toEqual(["goal", "redisUrl", "scope", "heartbeat", "heartbeatEvery", "telegramAllow", "telegramPairing"]);
    // non-interactive: no ids means pairing on
    expect(await resolveAnswers({ tier: 4 }, undefined, "/x")).toMatchObject({ tier: 4, telegramAllow: [], telegramPairing: true });
    expect(await resolveAnswers({ tier: 4, telegramAllow: [7] }, undefined, "/x")).toMatchObject({ telegramAllow: [7], telegramPairing: false });
  });

  it("does not ask for a heartbeat interval when nothing sends heartbeats", async () => {
    const prompter = createScriptedPrompter({
      goal: "always-on",
      sessions: "several",
      heartbeat: "none",
      redisUrl: "redis://h:1",
      scope: "global",
    });
    expect(await resolveAnswers({}, prompter, "/x")).toMatchObject({ tier: 3, heartbeat: "none" });
    expect(prompter.asked).toContain("heartbeat");
    expect(prompter.asked).not.toContain("heartbeatEvery");
  });

  it("refuses tier-2 flags on a tier-1 install instead of ignoring them", () => {
    expect(() => refuseFlagsAboveTier(answersFromFlags({ heartbeat: "cron", serviceLabel: "me.pi" }), 1)).toThrow(
      "--heartbeat, --service-label apply from tier 2 on, and this run installs tier 1 (no heartbeat, no service): drop them, or choose --tier 2",
    );
    expect(() => refuseFlagsAboveTier(answersFromFlags({ heartbeat: "cron" }), 2)).not.toThrow();
    expect(() => refuseFlagsAboveTier(answersFromFlags({ telegramAllow: ["123"] }), 3)).toThrow(
      "--telegram-allow applies from tier 4 on, and this run installs tier 3 (no daemon, no Telegram): drop it, or choose --tier 4",
    );
    expect(() => refuseFlagsAboveTier(answersFromFlags({ telegramAllow: ["123"], heartbeat: "cron" }), 4)).not.toThrow();
  });

  it("asks tier 2's heartbeat questions with this machine's default, and checks the interval against cron", async () => {
    const prompter = createScriptedPrompter({
      goal: "always-on",
      sessions: "one",
      heartbeatEvery: "5m",
      redisUrl: "redis://h:1",
      scope: "global",
    });
    const answers = await resolveAnswers({}, prompter, "/x", { heartbeat: "systemd" });
    expect(prompter.asked).toEqual(["goal", "sessions", "redisUrl", "scope", "heartbeat", "heartbeatEvery"]);
    expect(answers).toMatchObject({ tier: 2, heartbeat: "systemd", heartbeatEvery: "5m" });
    const linuxOnly = createScriptedPrompter({
      goal: "always-on",
      sessions: "one",
      redisUrl: "redis://h:1",
      scope: "global",
      heartbeat: "launchd",
    });
    await expect(resolveAnswers({}, linuxOnly, "/x", { heartbeat: "cron", heartbeats: ["cron", "inngest", "none"] })).rejects.toThrow(
      /"launchd" is not an option/,
    );
    const badCron = createScriptedPrompter({
      goal: "always-on",
      sessions: "one",
      redisUrl: "redis://h:1",
      scope: "global",
      heartbeat: "cron",
      heartbeatEvery: "7m",
    });
    await expect(resolveAnswers({}, badCron, "/x")).rejects.toThrow(/cron cannot run every 7m/);
    // an Inngest cron trigger cannot run every 10 s either: the watchdogs would alarm between heartbeats
    const badInngest = createScriptedPrompter({
      goal: "always-on",
      sessions: "one",
      redisUrl: "redis://h:1",
      scope: "global",
      heartbeat: "inngest",
      heartbeatEvery: "10s",
    });
    await expect(resolveAnswers({}, badInngest, "/x")).rejects.toThrow(/an Inngest cron trigger cannot run every 10s/);
  });

  it("cancels cleanly at any prompt", async () => {
    for (const id of ["goal", "sessions", "redisUrl", "scope"]) {
      const script = { goal: "notifications", sessions: "one", redisUrl: "redis://h:1", scope: "global", [id]: CANCEL } as const;
      await expect(resolveAnswers({}, createScriptedPrompter({ ...script }), "/x")).rejects.toBeInstanceOf(WizardCancelledError);
    }
  });

  it("rejects an invalid Redis URL at the prompt", async () => {
    const prompter = createScriptedPrompter({ goal: "notifications", sessions: "one", redisUrl: "http://nope", scope: "global" });
    await expect(resolveAnswers({}, prompter, "/x")).rejects.toThrow(/redis:\/\/ or rediss:\/\//);
  });

  it("maps goals and session counts to tiers", () => {
    expect(tierFor("notifications", "one")).toBe(1);
    expect(tierFor("always-on", "one")).toBe(2);
    expect(tierFor("always-on", "several")).toBe(3);
    expect(tierFor("notifications", "several")).toBe(3);
    expect(tierFor("full-gateway", "one")).toBe(4);
  });

  it("keeps passwords out of the recorded command line", () => {
    expect(redactUrlPassword("--redis-url=redis://:s3cret@h:6379")).toBe("--redis-url=redis://:***@h:6379");
    expect(redactUrlPassword("rediss://user:p%40ss@h")).toBe("rediss://user:***@h");
    expect(redactUrlPassword("redis://h:6379")).toBe("redis://h:6379");
  });
});

describe("the scope question", () => {
  it("shows where each choice puts the extension", async () => {
    const prompter = createScriptedPrompter({ goal: "notifications", sessions: "one", redisUrl: "redis://127.0.0.1:6390", scope: "global" });
    const hints: Record<string, string | undefined> = {};
    const select = prompter.select.bind(prompter);
    prompter.select = async (q) => {
      if (q.id === "scope") for (const option of q.options) hints[option.value] = option.hint;
      return select(q);
    };
    await resolveAnswers({}, prompter, "/work/proj");
    expect(hints).toEqual({ global: "the pi agent dir", project: "/work/proj/.pi/extensions/gateway" });
    await resolveAnswers({}, prompter, "/work/proj", {
      heartbeat: "cron",
      extensionDirs: { global: "~/.pi/agent/extensions/gateway", project: "~/p/.pi/extensions/gateway" },
    });
    expect(hints).toEqual({ global: "~/.pi/agent/extensions/gateway", project: "~/p/.pi/extensions/gateway" });
  });
});

describe("conflicting flags", () => {
  it("accepts flags that agree with --tier", () => {
    expect(answersFromFlags({ tier: "3", goal: "always-on", sessions: "several" })).toMatchObject({ tier: 3 });
    expect(answersFromFlags({ tier: "1", goal: "notifications", sessions: "one" })).toMatchObject({ tier: 1 });
  });
});
