// The registry is the only list of parts: a made-up component, added as one more entry and touching
// no other file, shows up in the plan, the dry-run text, the manifest, doctor and uninstall.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { COMPONENTS } from "../src/components/index.ts";
import type { Component } from "../src/core/component.ts";
import { fail, ok } from "../src/core/finding.ts";
import type { Manifest } from "../src/core/manifest.ts";
import { runDoctor } from "../src/doctor/run-doctor.ts";
import { applyUninstall, planUninstall } from "../src/install/uninstall.ts";
import { describeStep } from "../src/plan/describe.ts";
import { installTier1 } from "./helpers/install.ts";

const MADE_UP = "made-up";
const madeUpFile = (stateDir: string) => join(stateDir, "made-up.txt");

const madeUp: Component = {
  id: MADE_UP,
  applies: () => true,
  plan: ({ settings }) => ({
    steps: [
      { kind: "file", component: MADE_UP, description: "a made-up part's file", path: madeUpFile(settings.stateDir), contents: "made up\n", mode: 0o644 },
    ],
    notes: ["the made-up part says hello"],
  }),
  removal: () => ({}),
  checks: [
    {
      id: MADE_UP,
      run: async ({ manifest }) =>
        existsSync(madeUpFile(manifest.settings.stateDir))
          ? ok(MADE_UP, "the made-up file is there")
          : fail(MADE_UP, "the made-up file is gone", "gateway-setup"),
    },
  ],
};

describe("the component registry", () => {
  beforeAll(() => {
    COMPONENTS.push(madeUp);
  });
  afterAll(() => {
    COMPONENTS.splice(COMPONENTS.indexOf(madeUp), 1);
  });

  it("a made-up component appears in plan, dry-run, doctor and uninstall without touching any other file", async () => {
    const { env, plan, home } = await installTier1(inject("redisUrl"));
    try {
      const file = madeUpFile(plan.settings.stateDir);
      // plan and --dry-run
      expect(plan.steps.at(-1)).toMatchObject({ kind: "file", component: MADE_UP, path: file });
      expect(plan.notes).toContain("the made-up part says hello");
      // (the plan is already applied here, so the whole plan would say "Nothing to change": its steps say what they write)
      expect(plan.steps.map((step) => describeStep(step, env)).join("\n")).toContain("made-up.txt");
      // applied, and recorded with its component
      expect(readFileSync(file, "utf8")).toBe("made up\n");
      const manifest = JSON.parse(readFileSync(plan.settings.manifestPath, "utf8")) as Manifest;
      expect(manifest.files.find((recorded) => recorded.path === file)).toMatchObject({ component: MADE_UP });

      // doctor runs its check, after the others, and sees the file go
      const healthy = await runDoctor({ env, skip: ["pi"] });
      expect(healthy.checks.at(-1)).toEqual(ok(MADE_UP, "the made-up file is there"));
      rmSync(file);
      const broken = await runDoctor({ env, only: [MADE_UP] });
      expect(broken.checks).toEqual([fail(MADE_UP, "the made-up file is gone", "gateway-setup")]);
      expect(broken.ok).toBe(false);

      // uninstall takes it back like any file the manifest lists
      writeFileSync(file, "made up\n");
      const restored = await runDoctor({ env, only: [MADE_UP] });
      expect(restored.ok).toBe(true);
      const uninstall = planUninstall(plan.settings.manifestPath)!;
      expect(uninstall.steps).toContainEqual({ kind: "remove-file", path: file });
      expect(await applyUninstall(uninstall, env)).toEqual([]);
      expect(existsSync(file)).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
