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
      expect(plan).toMatch(/new\s+~\/work\/app\/\.pi\/extensions\/gateway\/gateway-extension\.mjs/);
      term.sendKeys("Enter");
      expect(await term.waitForExit(90_000)).toEqual({ status: 0, signal: null });
      const done = term.capture({ history: true });
      expect(done).toMatch(/delivered a test event/);
      expect(done.indexOf("file(s) created")).toBeLessThan(done.indexOf("Verified"));
      expect(done).toMatch(/Done\./);
      expect(existsSync(join(project, ".pi/extensions/gateway/gateway-extension.mjs"))).toBe(true);
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
      await term.waitForText("How many pi sessions");
      term.sendKeys("C-c");
      expect(await term.waitForExit()).toEqual({ status: 130, signal: null });
      expect(term.capture({ history: true }).match(/nothing was changed/gi)).toHaveLength(1);
      expect(snapshotTree(sandbox.home)).toEqual({});
    } finally {
      term.kill();
    }
  });

  it("--json without --yes says what it needs, not that the terminal is not interactive", async () => {
    const sandbox = createSandbox();
    const term = startTmux([process.execPath, CLI, "--json"], { env: sandbox.env, cwd: sandbox.home, width: 110, height: 20 });
    try {
      expect(await term.waitForExit()).toEqual({ status: 2, signal: null });
      const screen = term.capture({ history: true });
      expect(screen).toMatch(/--json needs --yes \(or --dry-run\)/);
      expect(screen).not.toMatch(/not an interactive terminal/);
    } finally {
      term.kill();
    }
  });

  it("at 80 columns the plan keeps its columns: a wrapped line continues under its own text", async () => {
    const sandbox = createSandbox();
    const term = startTmux([process.execPath, CLI, "--tier", "1", "--yes", "--dry-run", "--redis-url", redisUrl], {
      env: sandbox.env,
      cwd: sandbox.home,
      width: 80,
      height: 60,
    });
    try {
      expect(await term.waitForExit(30_000)).toEqual({ status: 0, signal: null });
      const screen = term.capture({ history: true });
      expect(screen).toMatch(/│ {4}2\. load the installed extension .*│\n│ {7}\S/);
      expect(screen).not.toMatch(/│ {2}new\)/);
    } finally {
      term.kill();
    }
  });
});
