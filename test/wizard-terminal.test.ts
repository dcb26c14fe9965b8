// The wizard in a real terminal (tmux): arrow keys, typing, Enter, Ctrl-C.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { CLI, createSandbox } from "./helpers/cli.ts";
import { startTmux } from "./helpers/tmux.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

describe("the wizard in a real terminal", () => {
  it("asks the questions, shows the plan, installs into the project and verifies", async () => {
    const sandbox = createSandbox();
    const project = join(sandbox.home, "work/app");
    mkdirSync(project, { recursive: true });
    const term = startTmux([process.execPath, CLI], { env: sandbox.env, cwd: project, width: 110, height: 45 });
    try {
      await term.waitForText("What should pi do for you?");
      term.sendKeys("Enter");
      await term.waitForText("Where do your background events come from?");
      term.sendKeys("Enter");
      await term.waitForText("How many pi sessions");
      term.sendKeys("Enter");
      await term.waitForText("Redis URL");
      term.sendKeys(...Array(40).fill("BSpace"));
      term.type(redisUrl);
      term.sendKeys("Enter");
      await term.waitForText("Where should the pi extension be installed?");
      term.sendKeys("Down", "Enter");
      await term.waitForText("Apply this plan?");
      const plan = term.capture({ history: true });
      expect(plan).toMatch(/new\s+~\/work\/app\/\.pi\/extensions\/gateway\/index\.ts/);
      expect(plan).toMatch(/npm install --omit=dev/);
      term.sendKeys("Enter");
      expect(await term.waitForExit(90_000)).toEqual({ status: 0, signal: null });
      const done = term.capture({ history: true });
      expect(done).toMatch(/delivered test event/);
      expect(done).toMatch(/Done\./);
      expect(existsSync(join(project, ".pi/extensions/gateway/node_modules/ioredis"))).toBe(true);
    } finally {
      term.kill();
    }
  });

  it("Ctrl-C at a question exits 130 and writes nothing", async () => {
    const sandbox = createSandbox();
    const term = startTmux([process.execPath, CLI], { env: sandbox.env, cwd: sandbox.home, width: 110, height: 45 });
    try {
      await term.waitForText("What should pi do for you?");
      term.sendKeys("Down", "Enter");
      await term.waitForText("Where do your background events come from?");
      term.sendKeys("C-c");
      expect(await term.waitForExit()).toEqual({ status: 130, signal: null });
      expect(term.capture({ history: true })).toMatch(/nothing was changed/i);
      expect(snapshotTree(sandbox.home)).toEqual({});
    } finally {
      term.kill();
    }
  });
});
