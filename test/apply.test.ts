import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { Plan, PlanStep } from "../src/core/plan.ts";
import { ApplyError, type ApplyOptions, applyPlan, BACKUP_GENERATIONS, InstallCancelledError, type VerifyRun } from "../src/install/apply.ts";
import { hasSignature, settledSignature } from "../src/install/fs-ops.ts";
import { readManifest, renderManifest } from "../src/install/manifest.ts";
import { snapshotTree } from "./helpers/tree.ts";

let home: string;
let bin: string;

function planWith(steps: PlanStep[]): Plan {
  const stateDir = join(home, ".pi/agent/gateway");
  return {
    tool: "gateway-setup",
    version: "0.0.0-test",
    settings: {
      tier: 1,
      mode: "single",
      sessionId: "main",
      prefix: "agent",
      redisUrl: "redis://127.0.0.1:1",
      redisPasswordSet: false,
      scope: "global",
      agentDir: join(home, ".pi/agent"),
      extensionDir: join(home, ".pi/agent/extensions/gateway"),
      stateDir,
      manifestPath: join(stateDir, "manifest.json"),
    },
    steps,
    notes: [],
    verification: [],
  };
}

const file = (path: string, contents: string, mode = 0o644): PlanStep => ({
  kind: "file",
  component: "extension",
  description: `write ${path}`,
  path: join(home, path),
  contents,
  mode,
});

function options(extra: Partial<ApplyOptions> = {}): ApplyOptions {
  return { env: { HOME: home, PATH: `${bin}:/usr/bin:/bin` }, invocation: "gateway-setup --test", waitForRedis: async () => {}, ...extra };
}

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "gw-apply-"));
  bin = join(home, "bin");
  mkdirSync(bin);
  // a stand-in command that creates a directory, then succeeds or fails as told
  writeFileSync(
    join(bin, "fake-npm"),
    `#!/bin/sh\nmkdir -p "$PWD/node_modules/x" && echo installed > "$PWD/node_modules/x/ok"\n` +
      `[ "$1" = fail ] && { echo "npm ERR! boom" >&2; exit 3; }\nexit 0\n`,
  );
  chmodSync(join(bin, "fake-npm"), 0o755);
  mkdirSync(join(home, "keep"));
  writeFileSync(join(home, "keep/user.txt"), "mine");
});

describe("applyPlan", () => {
  it("writes files atomically with their modes and records them in a manifest", async () => {
    const plan = planWith([file(".pi/agent/extensions/gateway/index.ts", "A"), file(".pi/agent/gateway/secrets.env", "S", 0o600)]);
    const result = await applyPlan(plan, options());
    expect(result.changed).toBe(true);
    expect(result.results.map((r) => r.outcome)).toEqual(["created", "created"]);
    expect(readFileSync(join(home, ".pi/agent/extensions/gateway/index.ts"), "utf8")).toBe("A");
    expect(statSync(join(home, ".pi/agent/gateway/secrets.env")).mode & 0o777).toBe(0o600);
    const manifest = readManifest(plan.settings.manifestPath)!;
    expect(manifest.files.map((f) => [f.path.slice(home.length), f.mode, f.original.existed])).toEqual([
      ["/.pi/agent/extensions/gateway/index.ts", 0o644, false],
      ["/.pi/agent/gateway/secrets.env", 0o600, false],
    ]);
    expect(manifest.createdDirs).toContain(join(home, ".pi"));
    expect(statSync(plan.settings.manifestPath).mode & 0o777).toBe(0o600);
  });

  it("changes nothing when applied twice with the same plan", async () => {
    const plan = planWith([file(".pi/agent/extensions/gateway/index.ts", "A")]);
    await applyPlan(plan, options());
    const before = snapshotTree(home);
    const again = await applyPlan(plan, options());
    expect(again.changed).toBe(false);
    expect(again.results.map((r) => r.outcome)).toEqual(["unchanged"]);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("backs up a file it replaces and keeps the original in the manifest", async () => {
    mkdirSync(join(home, ".pi/agent/extensions/gateway"), { recursive: true });
    writeFileSync(join(home, ".pi/agent/extensions/gateway/index.ts"), "user's own");
    const plan = planWith([file(".pi/agent/extensions/gateway/index.ts", "ours")]);
    const result = await applyPlan(plan, options({ now: () => new Date("2026-01-01T00:00:00Z") }));
    expect(result.results[0]).toMatchObject({ outcome: "updated" });
    const backup = result.results[0]!.backup!;
    expect(readFileSync(backup, "utf8")).toBe("user's own");
    const manifest = readManifest(plan.settings.manifestPath)!;
    expect(manifest.files[0]!.original).toEqual({ existed: true, backup });
  });

  it("keeps a few backup generations, and always the original", async () => {
    mkdirSync(join(home, ".pi/agent/extensions/gateway"), { recursive: true });
    writeFileSync(join(home, ".pi/agent/extensions/gateway/index.ts"), "the user's original");
    for (let i = 0; i < 8; i++) {
      const when = new Date(Date.UTC(2026, 0, 1, 0, 0, i));
      await applyPlan(planWith([file(".pi/agent/extensions/gateway/index.ts", `version ${i}`)]), options({ now: () => when }));
    }
    const manifest = readManifest(join(home, ".pi/agent/gateway/manifest.json"))!;
    const original = manifest.files[0]!.original;
    expect(original.existed && readFileSync(original.backup, "utf8")).toBe("the user's original");
    const generations = readdirSync(join(home, ".pi/agent/gateway/backups"));
    expect(generations).toHaveLength(BACKUP_GENERATIONS + 1);
    expect(generations).toContain("2026-01-01T00-00-00-000Z");
    expect(generations).not.toContain("2026-01-01T00-00-01-000Z");
  });

  it.each(["a failing command", "a failing verification", "a cancel"])("rolls everything back after %s", async (failure) => {
    mkdirSync(join(home, ".pi/agent/extensions/gateway"), { recursive: true });
    writeFileSync(join(home, ".pi/agent/extensions/gateway/index.ts"), "user's own");
    const before = snapshotTree(home);
    const abort = new AbortController();
    const plan = planWith([
      file(".pi/agent/extensions/gateway/index.ts", "ours"),
      file(".pi/agent/extensions/gateway/lib/a.ts", "lib"),
      file(".pi/agent/gateway/secrets.env", "S", 0o600),
      {
        kind: "command",
        component: "extension",
        description: "install dependencies",
        argv: ["fake-npm", failure === "a failing command" ? "fail" : "ok"],
        cwd: join(home, ".pi/agent/extensions/gateway"),
        creates: [join(home, ".pi/agent/extensions/gateway/node_modules")],
      },
      file(".pi/agent/extensions/gateway/after.ts", "after"),
    ]);
    const run = applyPlan(
      plan,
      options({
        signal: abort.signal,
        reporter: {
          stepStarted: (step) => {
            if (failure === "a cancel" && step.kind === "file" && step.path.endsWith("after.ts")) abort.abort();
          },
          stepFinished: () => {},
        },
        verify: async () => {
          if (failure === "a failing verification") throw new Error("event never arrived");
        },
      }),
    );
    if (failure === "a cancel") await expect(run).rejects.toBeInstanceOf(InstallCancelledError);
    else await expect(run).rejects.toBeInstanceOf(ApplyError);
    await run.catch((error) => {
      if (failure === "a failing command") expect(error.message).toMatch(/install dependencies.*exited with code 3[\s\S]*npm ERR! boom/);
    });
    expect(snapshotTree(home)).toEqual(before);
  });
});

describe("what applyPlan tells its verification", () => {
  it("a run that changed nothing, over files the manifest records as they are, is as last verified; any other run is not", async () => {
    const plan = planWith([file(".pi/agent/extensions/gateway/index.ts", "A"), file(".pi/agent/gateway/secrets.env", "S", 0o600)]);
    const runs: VerifyRun[] = [];
    const apply = () => applyPlan(plan, options({ verify: async (run) => void runs.push(run) }));
    await apply();
    await apply();
    // the manifest no longer records the file as it is (an install another way put it there)
    const manifest = readManifest(plan.settings.manifestPath)!;
    const recorded = manifest.files.find((f) => f.path.endsWith("index.ts"))!;
    recorded.sha256 = "0".repeat(64);
    writeFileSync(plan.settings.manifestPath, renderManifest(manifest));
    await apply();
    rmSync(plan.settings.manifestPath);
    await apply();
    // a file changed on disk: written again
    writeFileSync(join(home, ".pi/agent/extensions/gateway/index.ts"), "edited");
    await apply();
    expect(runs.map((run) => run.asLastVerified)).toEqual([false, true, false, false, false]);
  });
});

describe("applyPlan taking back the previous install", () => {
  const takeBackPlan = async (steps: PlanStep[]) => {
    const { planTakeBack } = await import("../src/install/uninstall.ts");
    const plan = planWith(steps);
    plan.steps.push(...planTakeBack(readManifest(plan.settings.manifestPath)!, plan.steps));
    return plan;
  };

  it("takes back what the plan lists, and a failure after it puts everything back", async () => {
    await applyPlan(planWith([file(".pi/agent/extensions/gateway/index.ts", "A"), file(".pi/agent/extensions/old/gone.ts", "old")]), options());
    const plan = await takeBackPlan([file(".pi/agent/extensions/gateway/index.ts", "A2")]);
    expect(plan.steps.filter((step) => step.kind === "take-back")).toEqual([
      {
        kind: "take-back",
        component: "extension",
        description: "take back a file the previous install wrote",
        action: "remove-file",
        path: join(home, ".pi/agent/extensions/old/gone.ts"),
      },
      {
        kind: "take-back",
        component: "cleanup",
        description: "remove the folders the previous install created, where empty",
        action: "remove-dirs-if-empty",
        paths: [join(home, ".pi/agent/extensions/old")],
      },
    ]);
    const before = snapshotTree(home);
    await expect(applyPlan(plan, options({ verify: async () => Promise.reject(new Error("event never arrived")) }))).rejects.toBeInstanceOf(ApplyError);
    expect(snapshotTree(home)).toEqual(before);
    const applied = await applyPlan(plan, options());
    expect(applied.results.map((r) => r.outcome)).toEqual(["updated", "removed", "unchanged"]);
    expect(Object.keys(snapshotTree(home)).filter((path) => path.includes("extensions/old"))).toEqual([]);
  });

  it("keeps an edited index.ts of the extension it takes back under another name, and a rollback renames it back", async () => {
    await applyPlan(planWith([file(".pi/agent/extensions/gateway/index.ts", "A"), file(".pi/agent/extensions/gateway/lib/a.ts", "lib")]), options());
    const index = join(home, ".pi/agent/extensions/gateway/index.ts");
    writeFileSync(index, "// edited");
    const plan = await takeBackPlan([file(".pi/agent/elsewhere/index.ts", "A")]);
    expect(plan.steps).toContainEqual(expect.objectContaining({ kind: "take-back", action: "keep-file", path: index, keptAs: `${index}.edited` }));
    const before = snapshotTree(home);
    await expect(applyPlan(plan, options({ verify: async () => Promise.reject(new Error("event never arrived")) }))).rejects.toBeInstanceOf(ApplyError);
    expect(snapshotTree(home)).toEqual(before);
    const applied = await applyPlan(plan, options());
    expect(applied.results.find((r) => r.step.kind === "take-back" && "path" in r.step && r.step.path === index)?.outcome).toBe("kept");
    expect(snapshotTree(join(home, ".pi/agent/extensions/gateway"))).toEqual({ "index.ts.edited": expect.any(String) });
    expect(readFileSync(`${index}.edited`, "utf8")).toBe("// edited");
    // the user's file now, no longer the install's
    expect(readManifest(plan.settings.manifestPath)!.files.map((f) => f.path)).toEqual([join(home, ".pi/agent/elsewhere/index.ts")]);
  });

  it("stops (and rolls back) when a file it planned to remove was edited after the plan was made", async () => {
    await applyPlan(planWith([file(".pi/agent/extensions/gateway/index.ts", "A"), file(".pi/agent/extensions/gateway/extra.ts", "extra")]), options());
    const plan = await takeBackPlan([file(".pi/agent/extensions/gateway/index.ts", "A2")]);
    writeFileSync(join(home, ".pi/agent/extensions/gateway/extra.ts"), "edited after the plan");
    const before = snapshotTree(home);
    await expect(applyPlan(plan, options())).rejects.toThrow(/extra\.ts was edited after the plan was made/);
    expect(snapshotTree(home)).toEqual(before);
  });
});

describe("applyPlan over what a command changes in place", () => {
  const dir = () => join(home, ".pi/agent/extensions/gateway");
  const npmStep = (mode: "ok" | "fail"): PlanStep => ({
    kind: "command",
    component: "extension",
    description: "install the extension's dependencies",
    argv: ["lock-npm", mode],
    cwd: dir(),
    creates: [join(dir(), "node_modules"), join(dir(), "package-lock.json")],
  });
  const extensionPlan = (version: string, mode: "ok" | "fail" = "ok") =>
    planWith([
      file(".pi/agent/extensions/gateway/index.ts", `ours ${version}`),
      file(".pi/agent/extensions/gateway/package.json", `{"version":"${version}"}`),
      npmStep(mode),
    ]);
  /** the user's own extension folder, with its package.json installed by npm */
  const usersOwnFolder = () => {
    mkdirSync(join(dir(), "node_modules/left-pad"), { recursive: true });
    writeFileSync(join(dir(), "index.ts"), "// my own extension\n");
    writeFileSync(join(dir(), "package.json"), '{"dependencies":{"left-pad":"1.3.0"}}\n');
    writeFileSync(join(dir(), "package-lock.json"), '{"lockfileVersion":3,"packages":{"node_modules/left-pad":{}}}\n');
    writeFileSync(join(dir(), "node_modules/left-pad/index.js"), "module.exports = 1;\n");
    chmodSync(join(dir(), "node_modules/left-pad"), 0o750);
  };

  beforeEach(() => {
    // like npm: prunes what package.json does not list, adds its own, rewrites the lock; then succeeds or fails as told
    writeFileSync(
      join(bin, "lock-npm"),
      `#!/bin/sh\nrm -rf node_modules/left-pad\nmkdir -p node_modules/ioredis && echo "$(date +%N)" > node_modules/ioredis/index.js\n` +
        `echo "lock $(date +%N)" > package-lock.json\n[ "$1" = fail ] && { echo "npm ERR! boom" >&2; exit 3; }\nexit 0\n`,
    );
    chmodSync(join(bin, "lock-npm"), 0o755);
  });

  it("a failed install over the user's own node_modules and package-lock.json puts them back as they were", async () => {
    usersOwnFolder();
    const before = snapshotTree(home);
    await expect(applyPlan(extensionPlan("1", "fail"), options())).rejects.toThrow(/exited with code 3/);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("uninstall puts back the user's own node_modules and package-lock.json instead of deleting them, also after a re-install", async () => {
    const { applyUninstall, planUninstall } = await import("../src/install/uninstall.ts");
    usersOwnFolder();
    const before = snapshotTree(home);
    await applyPlan(extensionPlan("1"), options({ now: () => new Date("2026-01-01T00:00:00Z") }));
    expect(existsSync(join(dir(), "node_modules/left-pad"))).toBe(false);
    const manifest = readManifest(join(home, ".pi/agent/gateway/manifest.json"))!;
    expect(manifest.commands[0]!.originals?.map((o) => o.path)).toEqual([join(dir(), "node_modules"), join(dir(), "package-lock.json")]);
    // a re-install runs npm again: what it changes is ours now, the originals stay recorded
    await applyPlan(extensionPlan("2"), options({ now: () => new Date("2026-01-02T00:00:00Z") }));
    expect(readManifest(join(home, ".pi/agent/gateway/manifest.json"))!.commands[0]!.originals).toEqual(manifest.commands[0]!.originals);
    expect(readdirSync(join(home, ".pi/agent/gateway/backups"))).toEqual(["2026-01-01T00-00-00-000Z", "2026-01-02T00-00-00-000Z"]);
    const uninstall = planUninstall(join(home, ".pi/agent/gateway/manifest.json"))!;
    expect(uninstall.steps).toContainEqual({ kind: "restore-tree", path: join(dir(), "node_modules"), backup: manifest.commands[0]!.originals![0]!.backup });
    expect(await applyUninstall(uninstall, options().env)).toEqual([]);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("a failed re-install after node_modules was deleted puts back package-lock.json as it was (and leaves node_modules gone)", async () => {
    await applyPlan(extensionPlan("1"), options());
    const installed = snapshotTree(home);
    rmSync(join(dir(), "node_modules"), { recursive: true });
    const before = snapshotTree(home);
    await expect(applyPlan(extensionPlan("2", "fail"), options())).rejects.toThrow(/exited with code 3/);
    expect(snapshotTree(home)).toEqual(before);
    // and a re-install that works keeps no copy of what was ours anyway
    await applyPlan(extensionPlan("2"), options());
    expect(Object.keys(snapshotTree(join(home, ".pi/agent/gateway/backups"))).filter((path) => /node_modules|package-lock/.test(path))).toEqual([]);
    const outsideBackups = (tree: Record<string, string>) => Object.keys(tree).filter((path) => !path.startsWith(".pi/agent/gateway/backups/"));
    expect(outsideBackups(snapshotTree(home))).toEqual(outsideBackups(installed));
  });
});

describe("applyPlan safety", () => {
  it("runs npm with its cache in a scratch dir that is gone afterwards, also when npm fails", async () => {
    const plan = planWith([]);
    // a command's scratch dir, as older installs ran npm install (setup itself runs no npm now)
    const scratch = join(plan.settings.stateDir, "npm-cache.tmp");
    const npmInstallArgv = (cache: string) => [
      "npm",
      "install",
      "--no-audit",
      "--no-fund",
      `--cache=${cache}`,
      `--logs-dir=${cache}/_logs`,
      "--update-notifier=false",
    ];
    const dir = join(home, ".pi/agent/extensions/gateway");
    plan.steps = [
      file(".pi/agent/extensions/gateway/broken.tgz", "not a tarball"),
      file(".pi/agent/extensions/gateway/package.json", JSON.stringify({ name: "x", version: "1.0.0", dependencies: { broken: "file:./broken.tgz" } })),
      {
        kind: "command",
        component: "extension",
        description: "npm install",
        argv: npmInstallArgv(scratch),
        cwd: dir,
        creates: [join(dir, "node_modules")],
        scratch: [scratch],
      },
    ];
    const before = snapshotTree(home);
    // the real npm, with no cache override anywhere: it would write ~/.npm/_cacache and ~/.npm/_logs
    await expect(applyPlan(plan, options({ env: { HOME: home, PATH: process.env.PATH! } }))).rejects.toThrow(/npm install[\s\S]*TAR_BAD_ARCHIVE/);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("a failed command's log named in its message is copied out of the scratch folder the rollback removes", async () => {
    const plan = planWith([]);
    const scratch = join(plan.settings.stateDir, "npm-cache.tmp");
    // like npm: the debug log goes to --logs-dir, and stderr says where
    writeFileSync(
      join(bin, "npm"),
      `#!/bin/sh\nlogs="${scratch}/_logs"\nmkdir -p "$logs"\necho "verbose: it broke" > "$logs/2026-debug-0.log"\necho "npm error code E500" >&2\n` +
        `echo "npm error A complete log of this run can be found in: $logs/2026-debug-0.log" >&2\nexit 1\n`,
    );
    chmodSync(join(bin, "npm"), 0o755);
    plan.steps = [{ kind: "command", component: "extension", description: "npm install", argv: ["npm", "install"], cwd: home, scratch: [scratch] }];
    const error = await applyPlan(plan, options({ env: { HOME: home, PATH: `${bin}:${process.env.PATH}` } })).catch((e: Error) => e);
    const log = /can be found in: (\/\S+?\.log)/.exec((error as Error).message)![1]!;
    expect(log.startsWith(home)).toBe(false);
    expect(readFileSync(log, "utf8")).toBe("verbose: it broke\n");
    expect(existsSync(scratch)).toBe(false);
  });

  it("stores no fingerprint of a secret file, and uninstall removes it even when edited", async () => {
    const { planUninstall } = await import("../src/install/uninstall.ts");
    const plan = planWith([{ ...file(".pi/agent/gateway/secrets.env", "PW=one\n", 0o600), secret: true } as PlanStep]);
    await applyPlan(plan, options());
    const manifest = readManifest(plan.settings.manifestPath)!;
    expect(manifest.files[0]).not.toHaveProperty("sha256");
    expect(readFileSync(plan.settings.manifestPath, "utf8")).not.toMatch(/"sha256"/);
    writeFileSync(join(home, ".pi/agent/gateway/secrets.env"), "PW=two\n");
    expect(planUninstall(plan.settings.manifestPath)!.steps).toContainEqual({ kind: "remove-file", path: join(home, ".pi/agent/gateway/secrets.env") });
  });

  it("refuses before the first change when the state dir cannot take the manifest, naming it", async () => {
    const plan = planWith([file(".pi/agent/extensions/gateway/index.ts", "A")]);
    mkdirSync(plan.settings.stateDir, { recursive: true });
    const before = snapshotTree(home);
    // root ignores mode bits; the immutable flag stops root too (fall back to 0555 elsewhere)
    const locked = spawnSync("chattr", ["+i", plan.settings.stateDir]).status === 0;
    if (!locked) chmodSync(plan.settings.stateDir, 0o555);
    try {
      const error = await applyPlan(plan, options()).catch((e: ApplyError) => e);
      expect(error).toBeInstanceOf(ApplyError);
      expect((error as ApplyError).message).toContain(`cannot write ${plan.settings.manifestPath}`);
      expect((error as ApplyError).message).not.toMatch(/\.tmp/);
      expect((error as ApplyError).fix).toMatch(/writable/);
    } finally {
      if (locked) spawnSync("chattr", ["-i", plan.settings.stateDir]);
      else chmodSync(plan.settings.stateDir, 0o755);
    }
    expect(snapshotTree(home)).toEqual(before);
  });
});

describe("applyPlan on a real tier-1 plan", () => {
  it("rolls back fully when any single step fails", async () => {
    const { buildPlan } = await import("../src/plan/build-plan.ts");
    const { detectSystem } = await import("../src/platform/system.ts");
    const env = { HOME: home, PATH: `${bin}:/usr/bin:/bin` };
    const plan = buildPlan({
      answers: {
        tier: 1,
        goal: "notifications",
        sessions: "one",
        redisUrl: "redis://:pw@127.0.0.1:6379",
        prefix: "agent",
        scope: "global",
        projectDir: home,
        installRedis: false,
      },
      env,
      system: detectSystem(env),
      redis: { status: "ok", latencyMs: 1 },
    });
    // index.ts, the bundle, the secrets file (tier 1 runs no command)
    expect(plan.steps.map((step) => step.kind)).toEqual(["file", "file", "file"]);
    const before = snapshotTree(home);
    for (const [index, failing] of plan.steps.entries()) {
      let seen = 0;
      const run = applyPlan(plan, {
        ...options(),
        env,
        reporter: {
          stepStarted: () => {
            if (seen++ === index) throw new Error(`injected failure at step ${index}`);
          },
          stepFinished: () => {},
        },
      });
      await expect(run, `step ${index}: ${failing.description}`).rejects.toThrow(`injected failure at step ${index}`);
      expect(snapshotTree(home), `after a failure at step ${index}`).toEqual(before);
    }
    await applyPlan(plan, { ...options(), env });
    expect(snapshotTree(home)).not.toEqual(before);
  });
});

describe("file signatures", () => {
  it("the manifest records a file's signature once its times have settled (a verification ran since it was written), none for a secret", async () => {
    const index = file(".pi/agent/extensions/gateway/index.ts", "A");
    const plan = planWith([index, { ...file(".pi/agent/gateway/secrets.env", "S", 0o600), secret: true } as PlanStep]);
    // the verification of a real install takes far longer than this
    await applyPlan(plan, options({ verify: () => new Promise((resolve) => setTimeout(resolve, 60)) }));
    const [recorded, secret] = readManifest(plan.settings.manifestPath)!.files;
    const stat = statSync(join(home, ".pi/agent/extensions/gateway/index.ts"));
    expect(recorded!.signature).toEqual({ size: 1, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino, dev: stat.dev });
    expect(secret).not.toHaveProperty("signature");
  });

  it("records no signature for a file changed after it was written (here: during the verification)", async () => {
    const plan = planWith([file(".pi/agent/extensions/gateway/index.ts", "A")]);
    const path = join(home, ".pi/agent/extensions/gateway/index.ts");
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    await applyPlan(
      plan,
      options({
        verify: async () => {
          await pause(30);
          writeFileSync(path, "Z");
          await pause(60); // settled again by the time the manifest is written
        },
      }),
    );
    expect(readManifest(plan.settings.manifestPath)!.files[0]).not.toHaveProperty("signature");
  });

  it("takes no signature of a file written a moment ago; one changed in place, chmodded or replaced no longer has its signature", () => {
    const path = join(home, "signed.txt");
    writeFileSync(path, "aaaa", { mode: 0o644 });
    expect(settledSignature(path)).toBeUndefined();
    // as if settled: times in the past (utimes moves ctime to now, which the in-place write below moves again or keeps)
    utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const signature = settledSignature(path, Date.now() + 1_000)!;
    expect(hasSignature(path, signature, 0o644)).toBe(true);
    expect(hasSignature(path, signature, 0o600)).toBe(false);
    writeFileSync(path, "bbbb");
    expect(hasSignature(path, signature, 0o644)).toBe(false);

    utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const again = settledSignature(path, Date.now() + 1_000)!;
    chmodSync(path, 0o600);
    expect(hasSignature(path, again, 0o644)).toBe(false);
    chmodSync(path, 0o644);
    writeFileSync(`${path}.new`, "bbbb");
    renameSync(`${path}.new`, path);
    expect(hasSignature(path, again, 0o644)).toBe(false);
    rmSync(path);
    expect(hasSignature(path, again, 0o644)).toBe(false);
  });
});
