// The whole setup flow in-process: the wizard driven through a scripted Prompter, real Redis,
// a temp HOME. Everything after the answers runs exactly as in the CLI.
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { EXIT_CANCELLED, EXIT_OK } from "../src/cli/exit-codes.ts";
import { createJsonOutput, type Output } from "../src/cli/output.ts";
import { detectSystem } from "../src/platform/system.ts";
import type { SetupContext } from "../src/setup/context.ts";
import { runSetup } from "../src/setup/run.ts";
import { CANCEL, createScriptedPrompter, type ScriptedAnswer } from "../src/wizard/scripted-prompter.ts";
import { TEST_NPM_ENV } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { startRedisServer } from "./helpers/redis-server.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

function context(
  home: string,
  script: Record<string, ScriptedAnswer | ScriptedAnswer[]>,
  output: Output = createJsonOutput(() => {}),
): SetupContext & { prompter: ReturnType<typeof createScriptedPrompter> } {
  const env = { HOME: home, PATH: process.env.PATH, ...TEST_NPM_ENV };
  return {
    flags: {},
    env,
    cwd: home,
    isTTY: true,
    output,
    prompter: createScriptedPrompter(script),
    system: detectSystem(env),
    invocation: "gateway-setup",
  };
}

const answers = { goal: "notifications", sessions: "one", redisUrl, scope: "project" };

describe("setup flow with a scripted wizard", () => {
  it("asks, shows the plan, confirms, installs into the project and verifies", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-flow-"));
    let report: { ok: boolean; verification: { id: string; status: string }[] } | undefined;
    const ctx = context(
      home,
      { ...answers, confirm: true },
      createJsonOutput((text) => (report = JSON.parse(text))),
    );
    expect(await runSetup(ctx)).toBe(EXIT_OK);
    expect(ctx.prompter.asked).toEqual(["goal", "sessions", "redisUrl", "scope", "confirm"]);
    expect(report?.ok).toBe(true);
    expect(report?.verification.map((c) => c.status)).toEqual(["ok", "ok", "skip"]);
    const index = join(home, ".pi/extensions/gateway/index.ts");
    expect(readFileSync(index, "utf8")).toContain(`sessionId: "main"`);
    expect(existsSync(join(home, ".pi/agent/gateway/manifest.json"))).toBe(true);
  });

  it.each(["goal", "redisUrl", "scope", "confirm"])("writes nothing when cancelled at %s", async (id) => {
    const home = mkdtempSync(join(tmpdir(), "gw-flow-"));
    const ctx = context(home, { ...answers, confirm: true, [id]: CANCEL });
    expect(await runSetup(ctx)).toBe(EXIT_CANCELLED);
    expect(snapshotTree(home)).toEqual({});
  });

  it("writes nothing when the plan is declined", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-flow-"));
    expect(await runSetup(context(home, { ...answers, confirm: false }))).toBe(EXIT_CANCELLED);
    expect(snapshotTree(home)).toEqual({});
  });
});

describe("setup run again", () => {
  it("changing nothing, does not load the extension an install verified again (Redis is asked, its default set again); repairing, verifies again", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-flow-"));
    const prefix = randomPrefix();
    const run = async () => {
      let report: { changed: boolean; verification: { id: string; status: string; message: string }[] } | undefined;
      const ctx = context(
        home,
        { ...answers, confirm: true },
        createJsonOutput((text) => (report = JSON.parse(text))),
      );
      ctx.flags = { prefix };
      expect(await runSetup(ctx)).toBe(EXIT_OK);
      return { changed: report!.changed, checks: report!.verification.map((c) => `${c.id}:${c.status}`), verification: report!.verification };
    };
    const delivered = ["redis-ping:ok", "extension-delivery:ok", "live-session:skip"];
    expect(await run()).toMatchObject({ changed: true, checks: delivered });

    const redis = new Redis(redisUrl);
    try {
      await redis.del(`${prefix}:gateway:default`);
      const again = await run();
      expect(again).toMatchObject({ changed: false, checks: ["redis-ping:ok", "extension-delivery:skip", "live-session:skip"] });
      expect(again.verification[1]!.message).toBe("the installed extension is unchanged since an install verified it: not loaded again");
      expect(await redis.get(`${prefix}:gateway:default`)).toBe("main");
    } finally {
      redis.disconnect();
    }

    // a user re-runs setup to repair an edited file: it is written again, and verified again
    appendFileSync(join(home, ".pi/extensions/gateway/index.ts"), "// edited\n");
    expect(await run()).toMatchObject({ changed: true, checks: delivered });
  });
});

/** An Output that keeps every line it was given, to assert what a person would read. */
function recordingOutput(lines: string[]): Output {
  const say = (kind: string) => (message: string) => void lines.push(`${kind}: ${message}`);
  return {
    json: false,
    intro: say("intro"),
    outro: say("outro"),
    info: say("info"),
    success: say("success"),
    warn: say("warn"),
    error: say("error"),
    note: (message, title) => void lines.push(`note ${title}: ${message}`),
    spinner: (message) => {
      lines.push(`spinner: ${message}`);
      return { stop: say("stop"), clear: () => {} };
    },
    document: () => {},
  };
}

describe("setup flow, what it says", () => {
  it("after a wrong password, asks again and says when Redis answered", async () => {
    const secured = await startRedisServer({ password: "flow-pw" });
    try {
      const home = mkdtempSync(join(tmpdir(), "gw-flow-"));
      const lines: string[] = [];
      const ctx = context(home, { ...answers, redisUrl: `redis://127.0.0.1:${secured.port}`, redisPassword: ["wrong", "flow-pw"] }, recordingOutput(lines));
      ctx.flags = { dryRun: true };
      expect(await runSetup(ctx)).toBe(EXIT_OK);
      expect(ctx.prompter.asked.filter((id) => id === "redisPassword")).toHaveLength(2);
      const said = lines.join("\n");
      expect(said).toMatch(
        new RegExp(
          /warn: Redis at .* requires a password and none was given \(NOAUTH\)\.\n/.source +
            /warn: Redis at .* rejected the password \(WRONGPASS\)\.\nsuccess: Redis answered at/.source,
        ),
      );
    } finally {
      await secured.stop();
    }
  });

  it("says a cancel once", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-flow-"));
    const lines: string[] = [];
    expect(await runSetup(context(home, { ...answers, scope: CANCEL }, recordingOutput(lines)))).toBe(EXIT_CANCELLED);
    expect(lines.filter((line) => /nothing was changed/i.test(line))).toEqual(["outro: Setup cancelled; nothing was changed."]);
  });
});
