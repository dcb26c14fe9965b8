// The wizard in a real terminal (tmux): arrow keys, typing, Enter, Ctrl-C.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { CLI, createSandbox } from "./helpers/cli.ts";
import { startTerminal } from "./helpers/terminal.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

describe("the wizard in a real terminal", () => {
  it("asks the questions, shows the plan, installs into the project and verifies", async () => {
    const sandbox = createSandbox();
    const project = join(sandbox.home, "work/app");
    mkdirSync(project, { recursive: true });
    const term = startTerminal([process.execPath, CLI], { env: sandbox.env, cwd: project });
    try {
      await term.waitFor("What should pi do for you?");
      term.press("Enter");
      await term.waitFor("Where do your background events come from?");
      term.press("Enter");
      await term.waitFor("How many pi sessions");
      term.press("Enter");
      await term.waitFor("Redis URL");
      term.press(...Array(40).fill("BSpace"));
      term.type(redisUrl);
      term.press("Enter");
      await term.waitFor("Where should the pi extension be installed?");
      term.press("Down", "Enter");
      await term.waitFor("Apply this plan?");
      const plan = term.screen();
      expect(plan).toMatch(/new\s+~\/work\/app\/\.pi\/extensions\/gateway\/index\.ts/);
      expect(plan).toMatch(/npm install --omit=dev/);
      term.press("Enter");
      expect(await term.waitForExit(90_000)).toBe(0);
      const done = term.screen();
      expect(done).toMatch(/delivered test event/);
      expect(done).toMatch(/Done\./);
      expect(existsSync(join(project, ".pi/extensions/gateway/node_modules/ioredis"))).toBe(true);
    } finally {
      term.kill();
    }
  });

  it("Ctrl-C at a question exits 130 and writes nothing", async () => {
    const sandbox = createSandbox();
    const term = startTerminal([process.execPath, CLI], { env: sandbox.env, cwd: sandbox.home });
    try {
      await term.waitFor("What should pi do for you?");
      term.press("Down", "Enter");
      await term.waitFor("Where do your background events come from?");
      term.press("C-c");
      expect(await term.waitForExit()).toBe(130);
      expect(term.screen()).toMatch(/nothing was changed/i);
      expect(snapshotTree(sandbox.home)).toEqual({});
    } finally {
      term.kill();
    }
  });
});
