// Uninstall goes through the install journal like setup: one transaction under the same lock;
// doctor --fix repairs under that lock too.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { extensionBundleCheck, extensionFilesCheck } from "../src/components/extension/check.ts";
import { parseRedisUrl } from "../src/components/redis/url.ts";
import { fail } from "../src/core/finding.ts";
import type { UndoEntry } from "../src/core/journal.ts";
import type { Manifest } from "../src/core/manifest.ts";
import { replanInstall, runDoctor } from "../src/doctor/run-doctor.ts";
import { InstallJournal, journalPath, undoEntry } from "../src/install/journal.ts";
import { applyUninstall, planUninstall } from "../src/install/uninstall.ts";
import { runCli } from "./helpers/cli.ts";
import { installTier1 } from "./helpers/install.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

describe("uninstall as one transaction", () => {
  it("a failure midway puts back everything it had already taken away, and leaves no journal", async () => {
    // a file of the user's stood where the extension's bundle goes: uninstall puts it back from its backup
    const home = mkdtempSync(join(tmpdir(), "gw-uninstall-"));
    const extensionDir = join(home, ".pi/agent/extensions/gateway");
    mkdirSync(extensionDir, { recursive: true });
    writeFileSync(join(extensionDir, "gateway-extension.mjs"), "// mine\n");
    try {
      const { env, plan } = await installTier1(redisUrl, {}, home);
      const uninstall = planUninstall(plan.settings.manifestPath)!;
      const restore = uninstall.steps.find((step) => step.kind === "restore-file" && step.path.endsWith("/gateway-extension.mjs"));
      expect(restore?.kind).toBe("restore-file");
      // index.ts goes before the bundle; then the backup turns out to be gone
      expect(uninstall.steps.findIndex((step) => "path" in step && step.path.endsWith("/index.ts"))).toBeLessThan(uninstall.steps.indexOf(restore!));
      const before = snapshotTree(home);
      rmSync((restore as { backup: string }).backup);
      const afterBackupGone = snapshotTree(home);

      await expect(applyUninstall(uninstall, env)).rejects.toThrow(/backup .* is missing.*everything was put back as it was/);
      expect(snapshotTree(home)).toEqual(afterBackupGone);
      expect(Object.keys(before).filter((path) => !(path in afterBackupGone))).toHaveLength(1); // only the backup itself
      expect(existsSync(journalPath(plan.settings.stateDir))).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("holds the same lock as setup: an uninstall while another run changes the install is refused, and changes nothing", async () => {
    const { env, plan, home } = await installTier1(redisUrl);
    const other = InstallJournal.begin(plan.settings.stateDir, "gateway-setup --tier 1 --yes", env);
    try {
      const before = snapshotTree(home);
      const refused = await runCli(["uninstall", "--yes"], { env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/is changing this install right now/);
      other.end();
      expect(snapshotTree(home)).toEqual(withoutJournal(before, plan.settings.stateDir, home));
      const done = await runCli(["uninstall", "--yes"], { env });
      expect(done.code, done.stdout + done.stderr).toBe(0);
      expect(existsSync(plan.settings.manifestPath)).toBe(false);
    } finally {
      other.end();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("doctor --fix repairs nothing while another run holds the lock, says why, and repairs once it is free", async () => {
    const { env, plan, home } = await installTier1(redisUrl);
    const keys = join(plan.settings.extensionDir, "index.ts");
    rmSync(keys);
    const other = InstallJournal.begin(plan.settings.stateDir, "gateway-setup --tier 1 --yes", env);
    try {
      // another process: the journal's owner is alive (this test's process)
      const held = JSON.parse((await runCli(["doctor", "--fix", "--json", "--skip", "pi"], { env })).stdout) as Awaited<ReturnType<typeof runDoctor>>;
      expect(held.repairs).toEqual([{ id: "doctor", result: expect.stringMatching(/^nothing repaired: .*is changing this install right now/) }]);
      expect(existsSync(keys)).toBe(false);
      other.end();
      const repaired = await runDoctor({ env, fix: true, skip: ["pi"] });
      expect(repaired.repairs?.map((repair) => repair.id)).toContain("extension-files");
      expect(existsSync(keys)).toBe(true);
      expect(existsSync(journalPath(plan.settings.stateDir))).toBe(false);
    } finally {
      other.end();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("a repair writes down its undo first: replaying it puts back what the repair changed", async () => {
    const { env, plan, home } = await installTier1(redisUrl);
    try {
      const manifest = JSON.parse(readFileSync(plan.settings.manifestPath, "utf8")) as Manifest;
      const dir = plan.settings.extensionDir;
      rmSync(join(dir, "index.ts"));
      writeFileSync(join(dir, "gateway-extension.mjs"), "// edited by hand\n");
      const files = (snapshot: Record<string, string>) => Object.fromEntries(Object.entries(snapshot).filter(([path]) => !path.endsWith("/")));
      const broken = files(snapshotTree(home));
      const undo: UndoEntry[] = [];
      const target = parseRedisUrl(plan.settings.redisUrl);
      const redisProbe = { status: "ok", latencyMs: 1 } as const;
      const replan = () => replanInstall(manifest, env, target, redisProbe);
      const ctx = { env, manifest, target, redisProbe, sessionIds: [], replan, recordUndo: (entry: UndoEntry) => void undo.push(entry) };
      expect(await extensionFilesCheck.repair!(ctx, fail("extension-files", "drift"))).toMatch(/^restored .*gateway\/index\.ts$/);
      expect(await extensionBundleCheck.repair!(ctx, fail("extension-deps", "drift"))).toMatch(/gateway-extension\.mjs \(your edited copy is in /);
      expect(undo.map((entry) => entry.undo)).toEqual(expect.arrayContaining(["remove", "restore-file"]));
      for (const entry of [...undo].reverse()) await undoEntry(entry, env);
      expect(files(snapshotTree(home))).toEqual(broken);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

/** The snapshot as it is once the other run's journal is gone. */
function withoutJournal(snapshot: Record<string, string>, stateDir: string, home: string): Record<string, string> {
  const journal = journalPath(stateDir).slice(home.length + 1);
  const { [journal]: _journal, ...rest } = snapshot;
  return rest;
}
